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
