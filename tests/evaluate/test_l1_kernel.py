"""The exact uint8 L1 kernel and knn's uint8 L1 path against integer brute force."""

import numpy as np
import pytest
import torch

from reprlab.evaluate import l1_kernel
from reprlab.evaluate.knn import knn

pytestmark = pytest.mark.skipif(
    not l1_kernel.usable(784), reason="no C compiler or no AVX2: knn keeps torch.cdist"
)


def brute_l1(q, x):
    return np.abs(q[:, None, :].astype(np.int64) - x[None].astype(np.int64)).sum(2)


@pytest.mark.parametrize("nq,nx,d", [(1, 1, 1), (5, 3, 63), (9, 301, 784), (4, 7, 129)])
def test_distances_equal_integer_brute_force(nq, nx, d):
    rng = np.random.default_rng(d)
    q = rng.integers(0, 256, (nq, d), dtype=np.uint8)
    x = rng.integers(0, 256, (nx, d), dtype=np.uint8)
    out = np.full((nq, nx + 3), -1, np.float32)[:, :nx]  # strided rows
    l1_kernel.l1_distances(l1_kernel.padded(q), l1_kernel.padded(x), out)
    assert (out == brute_l1(q, x)).all()


def test_extreme_pixels_are_exact():
    q = np.full((2, 784), 255, np.uint8)
    x = np.zeros((3, 784), np.uint8)
    out = np.empty((2, 3), np.float32)
    l1_kernel.l1_distances(l1_kernel.padded(q), l1_kernel.padded(x), out)
    assert (out == 255 * 784).all()


def order(d):
    """indices sorted by (distance, index), self excluded when square"""
    d = d.astype(np.float64)
    if d.shape[0] == d.shape[1]:
        np.fill_diagonal(d, np.inf)
    return np.argsort(d, axis=1, kind="stable")


@pytest.mark.parametrize("tensor", [False, True])
def test_knn_on_uint8_images_is_exact_with_true_ties(tensor):
    rng = np.random.default_rng(0)
    x = rng.integers(0, 4, (300, 30), dtype=np.uint8)  # small range: many exact ties
    x[10] = x[20]  # a duplicate counts as a neighbour at distance 0
    ref = brute_l1(x, x)
    want = order(ref)[:, :12]
    d, i = knn(torch.from_numpy(x) if tensor else x, 12, "l1", memory_budget=200_000)
    assert torch.equal(i, torch.from_numpy(want))
    assert np.array_equal(d.numpy(), np.take_along_axis(ref, want, 1).astype(np.float32))
    assert i[10, 0] == 20 and d[10, 0] == 0


def test_knn_uint8_queries_and_float_path_agree():
    rng = np.random.default_rng(1)
    x = rng.integers(0, 256, (400, 784), dtype=np.uint8)
    q = rng.integers(0, 256, (25, 784), dtype=np.uint8)
    d, i = knn(x, 9, "l1", queries=q)
    want = order(brute_l1(q, x))[:, :9]
    assert torch.equal(i, torch.from_numpy(want))
    d_float, i_float = knn(x.astype(np.float32), 9, "l1", queries=q.astype(np.float32))
    assert torch.equal(i_float, i) and torch.equal(d_float, d)
