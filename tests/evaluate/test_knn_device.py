"""knn's device path (matrix products and torch.topk) against the CPU path and float64 brute
force; run here on the CPU through ``knn_on_device(device="cpu")``, on a GPU when there is one."""

import numpy as np
import pytest
import torch
from tests.evaluate.test_knn import brute_force

from reprlab.errors import ConfigError, DataError
from reprlab.evaluate.knn import knn
from reprlab.evaluate.knn_device import _Screen, knn_on_device

METRICS = ["l2", "l1", "cosine"]


def assert_same_neighbours(d, i, ref_d, ref_i, rtol=1e-5):
    d, i = np.asarray(d), np.asarray(i)
    np.testing.assert_allclose(d, ref_d, rtol=rtol, atol=1e-6)
    # indices agree except where two distinct distances are within float32 rounding
    close = np.isclose(ref_d[:, 1:], ref_d[:, :-1], rtol=1e-6) & (ref_d[:, 1:] != ref_d[:, :-1])
    near_tie = np.zeros_like(ref_d, dtype=bool)
    near_tie[:, 1:] |= close
    near_tie[:, :-1] |= close
    assert (i == ref_i)[~near_tie].all()


def data_with_duplicates(seed, n=200, features=9):
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(n, features)).astype(np.float32) + 0.5
    x[150:155] = x[3]  # a point five more times: ties in distance, to the lower index
    x[160:162] = x[100]
    return x, rng.normal(size=(30, features)).astype(np.float32) + 0.5


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("with_queries", [False, True])
@pytest.mark.parametrize("k", [1, 7, "n"])
def test_equals_cpu_path_and_brute_force(metric, with_queries, k):
    x, q = data_with_duplicates(0)
    queries = q if with_queries else None
    k = (len(x) - (not with_queries)) if k == "n" else k
    d, i = knn_on_device(x, k, metric, queries, device="cpu")
    assert d.dtype == torch.float32 and i.dtype == torch.int64
    assert d.shape == i.shape == ((len(q) if with_queries else len(x)), k)
    cpu_d, cpu_i = knn(x, k, metric, queries)
    assert torch.equal(i, cpu_i)
    torch.testing.assert_close(d, cpu_d, rtol=1e-6, atol=1e-7)
    assert_same_neighbours(d, i, *brute_force(x, k, metric, queries))


@pytest.mark.parametrize("metric", METRICS)
def test_runs_of_duplicates_longer_than_the_margin_go_to_the_lower_index(metric):
    # 25 points 12 times each: every cut (k + margin = 15) falls inside a run of equal scores
    base = np.random.default_rng(1).normal(size=(25, 6)) + 0.5
    x = np.repeat(base, 12, axis=0)[np.random.default_rng(2).permutation(300)]
    for budget in (512 * 2**20, 40_000):  # one data block; blocks of a few dozen points
        d, i = knn_on_device(x, 7, metric, device="cpu", memory_budget=budget)
        ref_d, ref_i = brute_force(x, 7, metric)
        np.testing.assert_array_equal(i, ref_i)
        np.testing.assert_allclose(d, ref_d, rtol=1e-6, atol=1e-7)


def test_cut_inside_a_run_of_equal_scores_is_redone_stably(monkeypatch):
    # a GPU's topk may keep any of several equal scores; here it keeps the higher indices
    def ties_to_higher_indices(self, qb, own, count):
        scores = torch.cat([self.block(qb, c0, own) for c0 in range(0, self.n, self.cols)], 1)
        values, at = torch.topk(scores.flip(1), count, dim=1, largest=False)
        return values, scores.shape[1] - 1 - at

    monkeypatch.setattr(_Screen, "smallest", ties_to_higher_indices)
    x = np.repeat(np.random.default_rng(1).normal(size=(25, 6)), 12, axis=0)
    # k = 12: 11 copies at distance 0, then one of the next run of 12, cut at k + margin = 20
    _, i = knn_on_device(x, 12, device="cpu")
    np.testing.assert_array_equal(i, brute_force(x, 12, "l2")[1])


@pytest.mark.parametrize("metric", METRICS)
def test_float64_inputs_are_reranked_in_float64(metric):
    rng = np.random.default_rng(3)
    x, q = rng.normal(size=(300, 12)) + 0.5, rng.normal(size=(20, 12)) + 0.5
    d, i = knn_on_device(x, 9, metric, q, device="cpu", dtype=torch.float64)
    assert d.dtype == torch.float64
    assert_same_neighbours(d, i, *brute_force(x, 9, metric, q), rtol=1e-12)


@pytest.mark.parametrize("metric", METRICS)
@pytest.mark.parametrize("k,margin", [(5, None), (5, 0), (399, None)])
def test_tiny_budget_splits_queries_and_data_with_same_answer(metric, k, margin):
    x = np.random.default_rng(4).random((400, 20)).astype(np.float32)
    d, i = knn_on_device(x, k, metric, device="cpu", margin=margin)
    d2, i2 = knn_on_device(x, k, metric, device="cpu", margin=margin, memory_budget=50_000)
    assert torch.equal(i, i2) and torch.equal(d, d2)
    assert torch.equal(i, knn(x, k, metric)[1])


@pytest.mark.parametrize("metric", METRICS)
def test_uint8_images_give_the_cpu_paths_answer(metric):
    # the CPU path scores uint8 L1 with an exact integer kernel; here coordinates are floats
    x = np.random.default_rng(8).integers(0, 256, size=(300, 1, 8, 8), dtype=np.uint8)
    x[200:203] = x[10]
    d, i = knn_on_device(x, 12, metric, device="cpu")
    cpu_d, cpu_i = knn(x, 12, metric)
    assert torch.equal(i, cpu_i)
    torch.testing.assert_close(d, cpu_d, rtol=1e-6, atol=1e-7)


def test_far_from_origin_float32_keeps_the_cpu_paths_answer():
    # the expanded form loses every digit in float32 without centring (see test_knn)
    x = (1000.0 + np.random.default_rng(5).normal(scale=1e-2, size=(200, 8))).astype(np.float32)
    assert torch.equal(knn_on_device(x, 5, device="cpu")[1], knn(x, 5)[1])


def test_bad_arguments_and_devices():
    x = np.zeros((5, 2))
    with pytest.raises(ConfigError, match="k <= 4"):
        knn_on_device(x, 5, device="cpu")
    with pytest.raises(ConfigError, match="metric"):
        knn_on_device(x, 1, "chebyshev", device="cpu")
    with pytest.raises(ConfigError, match="features"):
        knn_on_device(x, 1, queries=np.zeros((2, 3)), device="cpu")
    with pytest.raises(DataError, match="zero"):
        knn_on_device(x, 1, "cosine", device="cpu")
    for device in ("cuda:99", "no-such-device"):
        with pytest.raises(ConfigError, match="device") as error:
            knn(np.ones((5, 2)), 1, device=device)
        assert "\n" not in str(error.value)


def test_matmul_precision_is_restored():
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("high")
    try:
        knn_on_device(np.random.default_rng(6).random((50, 3)), 2, device="cpu")
        assert torch.get_float32_matmul_precision() == "high"
    finally:
        torch.set_float32_matmul_precision(before)


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("metric", METRICS)
def test_cuda_inputs_are_served_on_the_gpu(metric):
    x, q = data_with_duplicates(7, n=3000, features=32)
    for queries in (None, torch.from_numpy(q).cuda()):
        d, i = knn(torch.from_numpy(x).cuda(), 50, metric, queries)
        assert d.device.type == i.device.type == "cuda"
        cpu_queries = None if queries is None else q
        cpu_d, cpu_i = knn(x, 50, metric, cpu_queries)
        assert torch.equal(i.cpu(), cpu_i)
        torch.testing.assert_close(d.cpu(), cpu_d, rtol=1e-6, atol=1e-7)
    d, i = knn(x, 50, metric, device="cuda")  # arrays, computed on the GPU
    assert i.device.type == "cuda" and torch.equal(i.cpu(), knn(x, 50, metric)[1])
