"""Hungarian accuracy against brute force over permutations; NMI, AMI against scikit-learn."""

import itertools

import numpy as np
import pytest
from sklearn.cluster import KMeans
from sklearn.datasets import make_blobs
from sklearn.metrics import adjusted_mutual_info_score, normalized_mutual_info_score

from reprlab.evaluate.clustering import hungarian_accuracy, kmeans_scores


def test_hungarian_accuracy_equals_best_permutation():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 4, 200)
    clusters = np.where(rng.random(200) < 0.6, (labels + 1) % 4, rng.integers(0, 4, 200))
    best = max(np.mean(np.array(p)[clusters] == labels) for p in itertools.permutations(range(4)))
    assert hungarian_accuracy(labels, clusters) == pytest.approx(best)


def test_more_clusters_than_labels_counts_unmatched_as_wrong():
    assert hungarian_accuracy([0, 0, 1, 1], [0, 1, 2, 2]) == pytest.approx(0.75)


def test_kmeans_scores_match_sklearn_on_same_clusters():
    x, y = make_blobs(300, centers=3, cluster_std=3.0, random_state=1)
    out = kmeans_scores(x, y, seed=4)
    clusters = KMeans(3, n_init=10, random_state=4).fit_predict(x)
    assert out["nmi"] == pytest.approx(normalized_mutual_info_score(y, clusters))
    assert out["ami"] == pytest.approx(adjusted_mutual_info_score(y, clusters))
    assert out["accuracy"] == pytest.approx(hungarian_accuracy(y, clusters))
    assert 0.5 < out["accuracy"] < 1.0
    assert kmeans_scores(x, y, seed=4) == out
