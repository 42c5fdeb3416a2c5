"""Neighbourhood scores on hand-built cases, trustworthiness against scikit-learn's."""

import numpy as np
import pytest
import torch
from scipy.stats import ortho_group
from sklearn.manifold import trustworthiness as sk_trustworthiness

from reprlab.evaluate.knn import knn
from reprlab.evaluate.neighbours import (
    agreement_rate,
    continuity,
    input_neighbours,
    neighbour_ranks,
    neighbourhood_scores,
    overlap,
    trustworthiness,
)


@pytest.fixture
def points():
    rng = np.random.default_rng(0)
    return rng.normal(size=(400, 6)), rng.integers(0, 4, 400)


def test_overlap_counts_shared_indices():
    a = np.array([[1, 2, 3], [4, 5, 6]])
    b = np.array([[3, 9, 1], [7, 8, 0]])
    assert overlap(a, b, 3).tolist() == [2 / 3, 0.0]
    assert overlap(a, b, 1).tolist() == [0.0, 0.0]


def test_isometry_keeps_every_neighbour(points):
    x, labels = points
    z = x @ ortho_group.rvs(6, random_state=1) + 3.0  # rotation and translation
    _, nx = knn(x, 50, dtype=torch.float64)
    _, nz = knn(z, 50, dtype=torch.float64)
    scores = neighbourhood_scores(nx, nz, labels)
    for k in (5, 10, 20, 50):
        assert scores[f"score@{k}"] == pytest.approx(1.0)
        assert scores["per_label"]["2"][f"score@{k}"] == pytest.approx(1.0)
        assert scores[f"agreement@{k}"]["improvement"] == pytest.approx(0.0)
        assert scores[f"agreement@{k}"]["similarity"] == pytest.approx(0.0)


def test_random_map_keeps_about_k_over_n(points):
    x, labels = points
    z = np.random.default_rng(5).normal(size=(400, 2))  # unrelated to x
    _, nx = knn(x, 50)
    _, nz = knn(z, 50)
    scores = neighbourhood_scores(nx, nz, labels)
    for k in (10, 20, 50):
        assert scores[f"score@{k}"] == pytest.approx(k / 399, rel=0.25)


def test_label_agreement_brute_force(points):
    x, labels = points
    z = x[:, :2]
    _, nx = knn(x, 10)
    _, nz = knn(z, 10)
    d = ((x[:, None] - x[None]) ** 2).sum(2)
    np.fill_diagonal(d, np.inf)
    brute = np.array(
        [np.mean(labels[np.argsort(row)[:10]] == labels[i]) for i, row in enumerate(d)]
    )
    np.testing.assert_allclose(agreement_rate(nx, labels, 10), brute)
    rate_z = agreement_rate(nz, labels, 10)
    s = neighbourhood_scores(nx, nz, labels, ks=(10,))["agreement@10"]
    assert s["improvement"] == pytest.approx(np.mean(rate_z - brute))
    assert s["similarity"] == pytest.approx(np.mean(np.abs(rate_z - brute)))
    per_label = neighbourhood_scores(nx, nz, labels, ks=(10,))["per_label"]
    kept = overlap(nx, nz, 10)
    assert per_label["3"]["score@10"] == pytest.approx(kept[labels == 3].mean())


@pytest.mark.parametrize("k", [1, 5, 12])
def test_trustworthiness_and_continuity_match_sklearn(points, k):
    x, _ = points
    z = np.tanh(x[:, :2] * 2) + 0.1 * x[:, 2:4]
    assert trustworthiness(x, z, k, block=64) == pytest.approx(
        sk_trustworthiness(x, z, n_neighbors=k), abs=1e-12
    )
    assert continuity(x, z, k) == pytest.approx(sk_trustworthiness(z, x, n_neighbors=k), abs=1e-12)


def brute_trustworthiness(x, z, k, distance):
    n = len(x)
    dx, dz = distance(x), distance(z)
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(dz, np.inf)
    rank_x = np.argsort(np.argsort(dx, axis=1), axis=1) + 1  # 1 = nearest
    penalty = 0
    for i in range(n):
        for j in np.argsort(dz[i])[:k]:
            penalty += max(rank_x[i, j] - k, 0)
    return 1 - 2 * penalty / (n * k * (2 * n - 3 * k - 1))


def test_l1_trustworthiness_matches_brute_force(points):
    # scikit-learn's metric= applies to the input space only; ours applies to both spaces
    x, _ = points
    z = x[:, :3]
    manhattan = lambda a: np.abs(a[:, None] - a[None]).sum(2)  # noqa: E731
    assert trustworthiness(x, z, 7, metric="l1") == pytest.approx(
        brute_trustworthiness(x, z, 7, manhattan), abs=1e-12
    )
    euclid = lambda a: np.sqrt(((a[:, None] - a[None]) ** 2).sum(2))  # noqa: E731
    assert brute_trustworthiness(x, z, 7, euclid) == pytest.approx(
        sk_trustworthiness(x, z, n_neighbors=7), abs=1e-12
    )


def test_input_neighbours_are_cached_and_reused(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRLAB_CACHE_DIR", str(tmp_path))
    images = torch.randint(
        0, 256, (120, 1, 4, 4), dtype=torch.uint8, generator=torch.Generator().manual_seed(0)
    )
    first = input_neighbours(images, "toy", "test", 8)
    files = list((tmp_path / "neighbours").glob("toy-test-*-l2-k8.pt"))
    assert len(files) == 1
    assert torch.equal(first, knn(images.reshape(120, -1).float() / 255, 8)[1])
    # a smaller k reads the cached file (a stale marker proves it is not recomputed)
    torch.save(torch.full((120, 8), 7), files[0])
    assert (input_neighbours(images, "toy", "test", 5) == 7).all()
    # other images, other key
    assert not (input_neighbours(images.flip(0), "toy", "test", 5) == 7).all()


def stable_ranks(x, neighbours, metric):
    """Brute force: rank of each listed neighbour in a stable sort of exact float64 distances
    (self excluded), so equal distances go to the lower index."""
    x = np.asarray(x, np.float64)
    diff = x[:, None] - x[None]
    d = np.abs(diff).sum(2) if metric == "l1" else (diff**2).sum(2)
    np.fill_diagonal(d, np.inf)
    order = np.argsort(d, axis=1, kind="stable")
    rank = np.empty_like(order)
    np.put_along_axis(rank, order, np.arange(1, len(x) + 1)[None].repeat(len(x), 0), 1)
    return np.take_along_axis(rank, np.asarray(neighbours), 1)


def others(rng, n, k):
    """For each point, ``k`` other points in random order."""
    return np.stack([rng.permutation(np.delete(np.arange(n), i))[:k] for i in range(n)])


@pytest.mark.parametrize("metric", ["l2", "l1"])
def test_neighbour_ranks_break_many_exact_ties_by_index(metric):
    # small integer coordinates: most distances tie exactly, and every tie must be decided by
    # the exact distance, not the float32 screen
    rng = np.random.default_rng(4)
    x = rng.integers(0, 3, size=(300, 5)).astype(np.float64)
    neighbours = others(rng, 300, 15)
    np.testing.assert_array_equal(
        neighbour_ranks(x, neighbours, metric, rows=37), stable_ranks(x, neighbours, metric)
    )


def test_neighbour_ranks_exact_where_float32_rounding_misorders():
    # far from the origin and 1e-7 apart: float32 cannot tell these distances apart, the
    # float64 ones can; centring and the bounded screen must still count exactly
    rng = np.random.default_rng(5)
    x = 1e3 + rng.normal(size=(250, 30)) * 1e-3
    x[1::2] = x[::2] + rng.normal(size=(125, 30)) * 1e-7  # near-duplicate pairs
    neighbours = others(rng, 250, 20)
    np.testing.assert_array_equal(neighbour_ranks(x, neighbours), stable_ranks(x, neighbours, "l2"))


def test_trustworthiness_with_ties_matches_stable_brute_force():
    # scikit-learn's unstable sort leaves tied ranks unspecified; ours puts ties in index order
    rng = np.random.default_rng(6)
    x = rng.integers(0, 4, size=(200, 6)).astype(np.float64)
    z = x[:, :2] + rng.normal(size=(200, 2)) * 0.3
    euclid = lambda a: np.sqrt(((a[:, None] - a[None]) ** 2).sum(2))  # noqa: E731

    def stable_brute(x, z, k):
        _, nz = knn(z, k, dtype=torch.float64)
        excess = stable_ranks(x, nz.numpy(), "l2") - k
        n = len(x)
        return 1 - 2 * excess.clip(0).sum() / (n * k * (2 * n - 3 * k - 1))

    assert trustworthiness(x, z, 9) == pytest.approx(stable_brute(x, z, 9), abs=1e-12)
    assert brute_trustworthiness(x, z, 9, euclid) <= 1  # the sorted-rank form runs too


def test_trustworthiness_keeps_k_up_to_200():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(500, 8))
    z = x[:, :3] + 0.2 * rng.normal(size=(500, 3))
    assert trustworthiness(x, z, 200) == pytest.approx(
        sk_trustworthiness(x, z, n_neighbors=200), abs=1e-12
    )


def test_neighbourhood_scores_with_k_200(points):
    # seed 004 kept the 200 nearest neighbours
    x, labels = points
    z = x[:, :3]
    _, nx = knn(x, 200)
    _, nz = knn(z, 200)
    scores = neighbourhood_scores(nx, nz, labels, ks=(200,))
    dx = ((x[:, None] - x[None]) ** 2).sum(2)
    dz = ((z[:, None] - z[None]) ** 2).sum(2)
    np.fill_diagonal(dx, np.inf)
    np.fill_diagonal(dz, np.inf)
    bx = np.argsort(dx, axis=1, kind="stable")[:, :200]
    bz = np.argsort(dz, axis=1, kind="stable")[:, :200]
    kept = [len(set(a) & set(b)) / 200 for a, b in zip(bx, bz)]
    assert scores["score@200"] == pytest.approx(np.mean(kept))
    rate = (labels[bz] == labels[:, None]).mean(1) - (labels[bx] == labels[:, None]).mean(1)
    assert scores["agreement@200"]["improvement"] == pytest.approx(rate.mean())
    assert 200 / 399 < scores["score@200"] < 1  # better than chance, not an isometry


def test_neighbour_ranks_keep_ties_that_rounding_breaks():
    # pixel values over 255: distances that tie between the integer images differ in the last
    # bits once scaled, and must still rank as ties (by index), like the integers do
    rng = np.random.default_rng(8)
    pixels = rng.integers(0, 4, size=(300, 6)).astype(np.float64)
    neighbours = others(rng, 300, 15)
    expected = stable_ranks(pixels, neighbours, "l2")
    np.testing.assert_array_equal(neighbour_ranks(pixels / 255, neighbours), expected)
    np.testing.assert_array_equal(
        neighbour_ranks(pixels / 255, neighbours, "l1"), stable_ranks(pixels, neighbours, "l1")
    )
