"""knn against float64 brute force (numpy) and scikit-learn's NearestNeighbors."""

import numpy as np
import pytest
import torch
from sklearn.neighbors import NearestNeighbors

from reprlab.errors import ConfigError, DataError
from reprlab.evaluate.knn import knn
from reprlab.evaluate.knn_kernels import SAMPLE_RUN, SAMPLE_RUNS


def brute_force(x, k, metric, queries=None):
    """float64 distances to every point, sorted stably (ties to the lower index)."""
    x = np.asarray(x, np.float64)
    q = x if queries is None else np.asarray(queries, np.float64)
    if metric == "cosine":
        x = x / np.linalg.norm(x, axis=1, keepdims=True)
        q = q / np.linalg.norm(q, axis=1, keepdims=True)
    diff = q[:, None, :] - x[None]
    d = np.abs(diff).sum(2) if metric == "l1" else np.sqrt((diff**2).sum(2))
    if metric == "cosine":
        d = d * d / 2
    if queries is None:
        np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(d, order, 1), order


def assert_same_neighbours(d, i, ref_d, ref_i, rtol=1e-5):
    d, i = np.asarray(d), np.asarray(i)
    np.testing.assert_allclose(d, ref_d, rtol=rtol, atol=1e-5)
    # indices agree except where two reference distances tie within float32 rounding
    tie = np.zeros_like(ref_d, dtype=bool)
    close = np.isclose(ref_d[:, 1:], ref_d[:, :-1], rtol=1e-6)
    tie[:, 1:] |= close
    tie[:, :-1] |= close
    assert (i == ref_i)[~tie].all()


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_matches_brute_force_float64(metric):
    x = np.random.default_rng(0).normal(size=(300, 17))
    d, i = knn(x, 7, metric)
    assert d.dtype == torch.float32 and i.dtype == torch.int64 and d.shape == (300, 7)
    assert_same_neighbours(d, i, *brute_force(x, 7, metric))


@pytest.mark.parametrize("metric,p", [("l2", 2), ("l1", 1)])
def test_matches_sklearn_with_queries(metric, p):
    rng = np.random.default_rng(1)
    x, q = rng.normal(size=(500, 12)), rng.normal(size=(40, 12))
    d, i = knn(torch.tensor(x), 9, metric, queries=torch.tensor(q))
    ref_d, ref_i = NearestNeighbors(n_neighbors=9, p=p).fit(x).kneighbors(q)
    assert_same_neighbours(d, i, ref_d, ref_i)


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_tiny_budget_blocks_queries_and_data_with_same_answer(metric):
    x = np.random.default_rng(2).random((400, 20)).astype(np.float32)
    d, i = knn(x, 5, metric)
    d2, i2 = knn(x, 5, metric, memory_budget=50_000)  # forces data blocks of a few rows
    np.testing.assert_allclose(d2, d, rtol=1e-6)
    assert torch.equal(i, i2)
    assert_same_neighbours(d2, i2, *brute_force(x, 5, metric))


def test_rounding_does_not_misorder_near_points_far_from_origin():
    # points far from the origin: ||q||^2 - 2q.x + ||x||^2 loses every digit in float32
    # (0.6 % of neighbours right); centring and the exact recomputation keep the true order
    rng = np.random.default_rng(3)
    x = 1000.0 + rng.normal(scale=1e-2, size=(200, 8))
    x32 = x.astype(np.float32)
    d, i = knn(x32, 5)
    ref_d, ref_i = brute_force(x32, 5, "l2")
    np.testing.assert_allclose(d, ref_d, rtol=2e-3)
    assert (np.asarray(i) == ref_i).mean() > 0.97
    # float64 inputs: a float32 screen, re-ranked from the float64 coordinates
    d, i = knn(x, 5)
    assert_same_neighbours(d, i, *brute_force(x, 5, "l2"))


def test_self_is_excluded_but_duplicates_count():
    x = np.array([[0.0], [0.0], [5.0], [9.0]])
    d, i = knn(x, 1)
    assert i[:, 0].tolist() == [1, 0, 3, 2]
    assert d[:, 0].tolist() == [0.0, 0.0, 4.0, 4.0]


def test_bad_arguments_raise_config_errors():
    x = np.zeros((5, 2))
    with pytest.raises(ConfigError, match="k <= 4"):
        knn(x, 5)
    with pytest.raises(ConfigError, match="metric"):
        knn(x, 1, "chebyshev")
    with pytest.raises(ConfigError, match="features"):
        knn(x, 1, queries=np.zeros((2, 3)))


def test_cosine_matches_sklearn():
    rng = np.random.default_rng(4)
    x, q = rng.normal(size=(600, 16)) + 0.3, rng.normal(size=(50, 16))
    d, i = knn(x, 11, "cosine", queries=q)
    ref_d, ref_i = NearestNeighbors(n_neighbors=11, metric="cosine").fit(x).kneighbors(q)
    assert_same_neighbours(d, i, ref_d, ref_i)
    d, i = knn(x, 11, "cosine", dtype=torch.float64)  # self excluded
    ref_d, ref_i = NearestNeighbors(n_neighbors=12, metric="cosine").fit(x).kneighbors(x)
    assert_same_neighbours(d, i, ref_d[:, 1:], ref_i[:, 1:], rtol=1e-12)


def test_cosine_ignores_length_and_refuses_zero_rows():
    x = np.random.default_rng(5).normal(size=(100, 4))
    scaled = x * np.random.default_rng(6).uniform(0.1, 10, size=(100, 1))
    assert torch.equal(knn(x, 5, "cosine")[1], knn(scaled, 5, "cosine")[1])
    x[7] = 0
    with pytest.raises(DataError, match="zero"):
        knn(x, 5, "cosine")


def test_k_200_matches_brute_force():
    # seed 004 kept the 200 nearest neighbours; rows longer than the sample that sets the
    # selection's first limit
    x = np.random.default_rng(7).random((SAMPLE_RUNS * SAMPLE_RUN + 500, 6)).astype(np.float32)
    d, i = knn(x, 200)
    ref_d, ref_i = NearestNeighbors(n_neighbors=201).fit(x.astype(np.float64)).kneighbors(x)
    assert_same_neighbours(d, i, ref_d[:, 1:], ref_i[:, 1:])
