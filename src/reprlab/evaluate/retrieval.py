"""Retrieval scores with the definitions of pytorch-metric-learning's AccuracyCalculator
(Musgrave et al. 2020, "A Metric Learning Reality Check"), every sample a query against all
others (self excluded). For a query with ``R`` other samples of its label:

- precision@1: the nearest neighbour has the query's label;
- R-precision: the fraction of the ``R`` nearest neighbours with the query's label;
- MAP@R: ``(1/R) sum_{i<=R} P(i) rel(i)``, ``P(i)`` the precision among the first ``i``.

Queries whose label occurs once (``R = 0``) are left out, as AccuracyCalculator does.
"""

import numpy as np
import torch

from reprlab.evaluate.knn import knn


def retrieval_scores(
    codes, labels, metric: str = "l2", normalize: bool = False, device=None
) -> dict:
    """precision@1, R-precision and MAP@R of ``codes`` with ``labels``; ``normalize`` first
    scales each code to unit length (cosine retrieval); ``device``: where knn runs."""
    labels = np.asarray(labels)
    codes = torch.as_tensor(np.asarray(codes, dtype=np.float32))
    if normalize:
        codes = torch.nn.functional.normalize(codes, dim=1)
    values, counts = np.unique(labels, return_counts=True)
    r = (counts - 1)[np.searchsorted(values, labels)]  # same-label others per query
    queries = np.flatnonzero(r > 0)
    if len(queries) == 0:
        nan = float("nan")
        return {"precision_at_1": nan, "r_precision": nan, "map_at_r": nan}
    nn = knn(codes, int(r.max()), metric, device=device)[1].cpu()
    hits = labels[nn.numpy()[queries]] == labels[queries, None]  # [Q, max R]
    r = r[queries]
    within_r = np.arange(hits.shape[1])[None] < r[:, None]
    hits &= within_r
    precision_at_i = np.cumsum(hits, axis=1) / np.arange(1, hits.shape[1] + 1)
    return {
        "precision_at_1": float(hits[:, 0].mean()),
        "r_precision": float((hits.sum(1) / r).mean()),
        "map_at_r": float(((precision_at_i * hits).sum(1) / r).mean()),
    }
