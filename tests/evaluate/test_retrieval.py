"""Retrieval scores against pytorch-metric-learning's AccuracyCalculator on the same inputs."""

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN

from reprlab.evaluate.retrieval import retrieval_scores


def reference(codes, labels, normalize):
    calculator = AccuracyCalculator(
        include=("precision_at_1", "r_precision", "mean_average_precision_at_r"),
        knn_func=CustomKNN(LpDistance(normalize_embeddings=normalize)),
        device=torch.device("cpu"),
    )
    codes, labels = torch.tensor(codes, dtype=torch.float32), torch.tensor(labels)
    return calculator.get_accuracy(codes, labels)


@pytest.mark.parametrize("normalize", [False, True])
def test_matches_accuracy_calculator(normalize):
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 5, 300)
    codes = rng.normal(size=(300, 8)) + labels[:, None] * 0.6
    ours = retrieval_scores(codes, labels, normalize=normalize)
    ref = reference(codes, labels, normalize)
    assert ours["precision_at_1"] == pytest.approx(ref["precision_at_1"], abs=1e-6)
    assert ours["r_precision"] == pytest.approx(ref["r_precision"], abs=1e-6)
    assert ours["map_at_r"] == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-6)
    assert 0.1 < ours["map_at_r"] < 0.95  # neither trivial nor perfect


def test_lone_labels_are_left_out_like_pml():
    rng = np.random.default_rng(1)
    labels = np.r_[rng.integers(0, 3, 100), 7]  # label 7 occurs once
    codes = rng.normal(size=(101, 4)) + labels[:, None]
    ours = retrieval_scores(codes, labels)
    ref = reference(codes, labels, False)
    assert ours["map_at_r"] == pytest.approx(ref["mean_average_precision_at_r"], abs=1e-6)
    assert ours["precision_at_1"] == pytest.approx(ref["precision_at_1"], abs=1e-6)


def test_perfect_separation_scores_one():
    labels = np.repeat([0, 1, 2], 10)
    codes = labels[:, None] * 100.0 + np.random.default_rng(2).random((30, 2))
    assert retrieval_scores(codes, labels) == {
        "precision_at_1": 1.0,
        "r_precision": 1.0,
        "map_at_r": 1.0,
    }
