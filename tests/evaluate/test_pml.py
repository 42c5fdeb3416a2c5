"""ExactKNN inside pytorch-metric-learning's AccuracyCalculator against the calculator's own
exact search (CustomKNN on a full distance matrix) and a float64 brute force on the same
inputs."""

import numpy as np
import pytest
import torch
from pytorch_metric_learning.distances import CosineSimilarity, LpDistance
from pytorch_metric_learning.utils.accuracy_calculator import AccuracyCalculator
from pytorch_metric_learning.utils.inference import CustomKNN

from reprlab.evaluate.pml import ExactKNN

SCORES = (
    "precision_at_1",
    "r_precision",
    "mean_average_precision_at_r",
    "mean_average_precision",
    "mean_reciprocal_rank",
)


def brute_force(metric):
    """A knn_func from a full float64 distance matrix, sorted stably (ties to lower index)."""

    def knn_func(query, k, reference, ref_includes_query=False):
        q, r = query.double(), reference.double()
        if metric == "cosine":
            q, r = torch.nn.functional.normalize(q, dim=1), torch.nn.functional.normalize(r, dim=1)
            d = 1 - q @ r.T
        else:
            d = (q[:, None] - r[None]).abs().pow(2 if metric == "l2" else 1).sum(2)
        if ref_includes_query:
            d[torch.arange(len(q)), torch.arange(len(q))] = float("inf")
        d, i = torch.sort(d, dim=1, stable=True)
        return d[:, :k], i[:, :k]

    return knn_func


def calculator(knn_func):
    return AccuracyCalculator(include=SCORES, knn_func=knn_func, device=torch.device("cpu"))


@pytest.fixture
def codes():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 6, 400)
    x = rng.normal(size=(400, 12)) + labels[:, None] * 1.0
    return torch.tensor(x, dtype=torch.float32), torch.tensor(labels)


@pytest.mark.parametrize(
    "metric,distance",
    [
        ("l2", LpDistance(normalize_embeddings=False)),
        ("l1", LpDistance(p=1, normalize_embeddings=False)),
        ("cosine", CosineSimilarity()),
    ],
)
def test_same_scores_as_accuracy_calculator_within_one_set(codes, metric, distance):
    x, labels = codes
    ours = calculator(ExactKNN(metric)).get_accuracy(x, labels)
    assert ours == pytest.approx(calculator(brute_force(metric)).get_accuracy(x, labels), abs=1e-12)
    # the calculator's own float32 search may order a near-tie the other way
    ref = calculator(CustomKNN(distance)).get_accuracy(x, labels)
    assert ours == pytest.approx(ref, abs=1e-4)
    assert 0.1 < ours["mean_average_precision_at_r"] < 0.9  # neither trivial nor perfect


@pytest.mark.parametrize("ref_includes_query", [False, True])
def test_same_scores_with_separate_references(codes, ref_includes_query):
    x, labels = codes
    query, query_labels = x[:100], labels[:100]
    reference, reference_labels = (x, labels) if ref_includes_query else (x[100:], labels[100:])
    args = (query, query_labels, reference, reference_labels, ref_includes_query)
    ours = calculator(ExactKNN()).get_accuracy(*args)
    assert ours == pytest.approx(calculator(brute_force("l2")).get_accuracy(*args), abs=1e-12)
    ref = calculator(CustomKNN(LpDistance(normalize_embeddings=False))).get_accuracy(*args)
    assert ours == pytest.approx(ref, abs=1e-4)


@pytest.mark.parametrize("ref_includes_query", [False, True])
def test_neighbours_and_distances_match_brute_force_and_custom_knn(codes, ref_includes_query):
    x, _ = codes
    query = x[:50]
    d, i = ExactKNN()(query, 7, x, ref_includes_query)
    ref_d, ref_i = brute_force("l2")(query, 7, x, ref_includes_query)
    assert torch.equal(i, ref_i)
    torch.testing.assert_close(d, ref_d.sqrt().float(), rtol=1e-6, atol=1e-6)
    pml_d, pml_i = CustomKNN(LpDistance(normalize_embeddings=False))(
        query, 7, x, ref_includes_query
    )
    # CustomKNN's float32 distances come from the expanded form: a point's distance to itself
    # is up to 1e-2 off zero here, and near-ties may swap
    torch.testing.assert_close(d, pml_d, rtol=1e-3, atol=1e-2)
    assert (i == pml_i).float().mean() > 0.95
    if ref_includes_query:
        assert not (i == torch.arange(50)[:, None]).any()  # each query's own row left out
