"""MDS recovers known configurations (Procrustes, scipy); the sphere; 2-D projections."""

import time

import numpy as np
import pytest
from scipy.spatial import procrustes
from scipy.spatial.distance import pdist, squareform

from reprlab.viz.projection import classical_mds, landmark_mds, project_2d, to_sphere


@pytest.fixture
def config3d():
    return np.random.default_rng(0).normal(size=(60, 3)) * [3.0, 2.0, 1.0]


def test_classical_mds_recovers_configuration_up_to_rotation(config3d):
    y = classical_mds(squareform(pdist(config3d)), 3)
    _, _, disparity = procrustes(config3d, y)
    assert disparity < 1e-12
    np.testing.assert_allclose(pdist(y), pdist(config3d), rtol=1e-8)


def test_classical_mds_matches_top_principal_components():
    x = np.random.default_rng(1).normal(size=(50, 6))
    y = classical_mds(squareform(pdist(x)), 2)
    centred = x - x.mean(0)
    pcs = centred @ np.linalg.svd(centred, full_matrices=False)[2][:2].T
    np.testing.assert_allclose(np.abs(y), np.abs(pcs), atol=1e-8)


def test_landmark_mds_is_exact_for_euclidean_points(config3d):
    y = landmark_mds(config3d, 3, landmarks=10, seed=1)
    np.testing.assert_allclose(pdist(y), pdist(config3d), rtol=1e-7, atol=1e-9)
    # with at least n landmarks it is classical MDS
    _, _, disparity = procrustes(config3d, landmark_mds(config3d, 3, landmarks=100))
    assert disparity < 1e-12


def test_landmark_mds_approximates_higher_dimensional_distances_quickly():
    x = np.random.default_rng(2).normal(size=(10000, 20)) * np.r_[[5, 4, 3], np.full(17, 0.1)]
    start = time.perf_counter()
    y = landmark_mds(x, 3, landmarks=300)
    assert time.perf_counter() - start < 5
    sample = np.random.default_rng(3).choice(10000, 300, replace=False)
    assert np.corrcoef(pdist(y[sample]), pdist(x[sample]))[0, 1] > 0.99


def test_to_sphere_scales_to_unit_length_and_trims_farthest():
    x = np.random.default_rng(4).normal(size=(100, 3))
    x[7] = [50, 50, 50]
    points, kept = to_sphere(x, trim=0.05)
    np.testing.assert_allclose(np.linalg.norm(points, axis=1), 1.0)
    assert len(kept) == 95 and 7 not in kept
    assert len(to_sphere(x)[1]) == 100


def test_project_2d():
    x = np.random.default_rng(5).normal(size=(80, 5))
    y, used = project_2d(x, "pca")
    assert used == "pca" and y.shape == (80, 2)
    assert project_2d(x[:, :2])[1] == "identity"
    y, used = project_2d(x, "tsne")
    assert used in ("tsne", "umap") and y.shape == (80, 2)
