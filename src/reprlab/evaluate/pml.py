"""reprlab's exact `knn` as pytorch-metric-learning's nearest-neighbour function.

``AccuracyCalculator(knn_func=ExactKNN())`` scores retrieval with the calculator's own
definitions (Musgrave et al. 2020) on reprlab's exact, blocked CPU search instead of its
default faiss index or a full distance matrix. The calculator calls ``knn_func(query, k,
reference, ref_includes_query)`` and reads ``(distances, indices)``, ``[len(query), k]``,
nearest first (`pytorch_metric_learning.utils.inference.CustomKNN`). When
``ref_includes_query`` the first ``len(query)`` references are the queries themselves and each
query's own row is left out, as ``CustomKNN`` does (search ``k + 1``, drop the query's own
index, else the last).
"""

import torch
from torch import Tensor

from reprlab.evaluate.knn import knn


class ExactKNN:
    """``knn_func`` for pytorch-metric-learning: exact ``metric`` neighbours (``'l2'``,
    ``'l1'`` or ``'cosine'``; distances, not similarities) by `reprlab.evaluate.knn`, ties to
    the lower index; results come back on the query's device."""

    def __init__(self, metric: str = "l2", dtype: torch.dtype = torch.float32):
        self.metric, self.dtype = metric, dtype

    def __call__(
        self, query: Tensor, k: int, reference: Tensor, ref_includes_query: bool = False
    ) -> tuple[Tensor, Tensor]:
        device = query.device
        if ref_includes_query and len(reference) == len(query):  # self left out by index
            d, i = knn(reference, k, self.metric, dtype=self.dtype)
        elif ref_includes_query:
            d, i = knn(reference, k + 1, self.metric, queries=query, dtype=self.dtype)
            own = i == torch.arange(len(query))[:, None]
            own[~own.any(1), -1] = True  # a query not among its k + 1 nearest drops the last
            d, i = d[~own].view(len(query), k), i[~own].view(len(query), k)
        else:
            d, i = knn(reference, k, self.metric, queries=query, dtype=self.dtype)
        return d.to(device), i.to(device)
