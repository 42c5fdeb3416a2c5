"""The compiled selection and re-ranking kernels against numpy brute force."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from reprlab.errors import DataError
from reprlab.evaluate.knn import _Selection, knn
from reprlab.evaluate.knn_kernels import SAMPLE_RUN, SAMPLE_RUNS, _sample_limit, select_smallest


def selection(scores, width, self_index=None, blocks=1):
    """Run select_smallest over ``blocks`` column blocks, then the final cut, and return each
    row's kept (score, index) pairs sorted lexicographically."""
    rows, cols = scores.shape
    own = np.full(rows, -1) if self_index is None else np.asarray(self_index)
    values = np.empty((rows, 3 * width), scores.dtype)
    indices = np.empty((rows, 3 * width), np.int64)
    counts = np.zeros(rows, np.int64)
    for block in np.array_split(np.arange(cols), blocks):
        part = np.ascontiguousarray(scores[:, block])
        bias = np.zeros(len(block), scores.dtype)
        select_smallest(part, bias, block[0], own, width, values, indices, counts)
    kept = []
    for r in range(rows):
        v, i = values[r, : counts[r]], indices[r, : counts[r]]
        order = np.lexsort((i, v))[:width]
        kept.append(list(zip(v[order].tolist(), i[order].tolist())))
    return kept


def lexicographic_smallest(scores, width, self_index=None):
    out = []
    for r, row in enumerate(scores):
        pairs = sorted(
            (v, j) for j, v in enumerate(row.tolist()) if self_index is None or j != self_index[r]
        )
        out.append(pairs[:width])
    return out


@pytest.mark.parametrize("blocks", [1, 3])
def test_selection_is_lexicographic_with_many_ties(blocks):
    # integer scores in a narrow range: many ties, which must go to the lower index
    scores = np.random.default_rng(0).integers(0, 40, size=(30, 5000)).astype(np.float32)
    own = np.arange(30) * 7
    assert selection(scores, 50, own, blocks) == lexicographic_smallest(scores, 50, own)


def test_selection_rescans_when_the_sampled_limit_is_too_low():
    # the sampled positions hold the row's smallest scores, so fewer than `width` lie below
    # the sampled limit and the row must be scanned again without it
    n, width, runs, run = 20_000, 50, SAMPLE_RUNS, SAMPLE_RUN
    row = np.arange(n, dtype=np.float32) + n
    sampled = np.concatenate(
        [
            np.arange(s * (n - run) // (runs - 1), s * (n - run) // (runs - 1) + run)
            for s in range(runs)
        ]
    )
    row[sampled] = -np.arange(len(sampled), dtype=np.float32)
    limit = _sample_limit.py_func(row, np.zeros_like(row), width)
    assert (row < limit).sum() < width  # the case this test is about
    scores = row[None].copy()
    assert selection(scores, width) == lexicographic_smallest(scores, width)


@pytest.mark.parametrize("metric", ["l2", "l1"])
@pytest.mark.parametrize("threads", [1, 3])
def test_rerank_computes_exact_distances_and_breaks_ties_by_index(metric, threads):
    rng = np.random.default_rng(1)
    data = rng.integers(-3, 4, size=(200, 6)).astype(np.float32)  # many equal distances
    queries = data[:20]
    width, k = 30, 25
    candidates = np.stack([rng.permutation(200)[:width] for _ in range(20)])
    with ThreadPoolExecutor(threads) as pool:
        selection = _Selection(pool, threads, 20, width, np.float32)
        selection.reset(20, None)
        selection.values[:] = 0  # scores all tie: the cut keeps the first `width` given
        selection.indices[:, :width] = candidates
        selection.counts[:] = width
        d, i = selection.rerank(torch.from_numpy(queries), torch.from_numpy(data), metric, k)
    for r in range(20):
        diff = data[candidates[r]].astype(np.float64) - queries[r]
        exact = np.abs(diff).sum(1) if metric == "l1" else np.sqrt((diff**2).sum(1))
        order = np.lexsort((candidates[r], exact))[:k]
        np.testing.assert_array_equal(i[r], candidates[r][order])
        np.testing.assert_allclose(d[r], exact[order], rtol=1e-12)


@pytest.mark.parametrize("metric,p", [("l2", 2), ("l1", 1)])
def test_knn_matches_sklearn_on_rows_long_enough_to_sample(metric, p):
    # more data points than the sample: the selection starts from a sampled limit
    x = np.random.default_rng(2).normal(size=(SAMPLE_RUNS * SAMPLE_RUN + 500, 10))
    d, i = knn(x, 20, metric)
    ref_d, ref_i = NearestNeighbors(n_neighbors=21, p=p).fit(x).kneighbors(x)
    np.testing.assert_allclose(d, ref_d[:, 1:], rtol=1e-5, atol=1e-6)
    assert (np.asarray(i) == ref_i[:, 1:]).mean() > 0.999  # only float32 near-ties may differ


def test_non_finite_or_overflowing_coordinates_are_refused():
    x = np.random.default_rng(3).normal(size=(10, 3))
    x[4, 1] = np.nan
    with pytest.raises(DataError, match="NaN"):
        knn(x, 2)
    big = np.full((10, 3), 1e19)
    with pytest.raises(DataError, match="float64"):
        knn(big, 2)
    d, _ = knn(big + np.arange(10)[:, None] * 1e18, 2, dtype=torch.float64)
    assert torch.isfinite(d).all()
