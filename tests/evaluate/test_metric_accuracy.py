"""The five accuracies of seed 003 against brute force on small cases."""

import itertools
import math
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from sklearn.cluster import KMeans

from reprlab.evaluate.metric_accuracy import (
    batch_accuracy,
    magnet_accuracy,
    metric_accuracies,
    repmet_accuracy,
    simple_accuracy,
    unsupervised_accuracy,
)
from reprlab.metric_learning.clusters import per_class_kmeans


def case(seed, n=40, m=9, classes=3, dim=3):
    rng = np.random.default_rng(seed)
    emb = rng.normal(size=(n, dim)) * 2
    labels = rng.integers(0, classes, n)
    centers = rng.normal(size=(m, dim)) * 2
    center_labels = np.arange(m) % classes
    return emb, labels, centers, center_labels


def t(*arrays):
    return [torch.tensor(a) for a in arrays]


def sqd(a, b):
    return float(((a - b) ** 2).sum())


def brute_soft(emb, labels, centers, center_labels, variance, nearest):
    correct = 0
    for r, y in zip(emb, labels):
        d = [sqd(r, c) for c in centers]
        near = sorted(range(len(centers)), key=lambda m: d[m])[:nearest]
        total = sum(math.exp(-d[m] / (2 * variance)) for m in near)
        prob = {}
        for m in near:
            prob[center_labels[m]] = (
                prob.get(center_labels[m], 0) + math.exp(-d[m] / (2 * variance)) / total
            )
        correct += max(prob, key=prob.get) == y
    return correct / len(labels)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_simple_accuracy_brute_force(seed):
    emb, labels, centers, center_labels = case(seed)
    expected = np.mean(
        [center_labels[np.argmin([sqd(r, c) for c in centers])] == y for r, y in zip(emb, labels)]
    )
    assert simple_accuracy(*t(emb, labels, centers, center_labels)) == pytest.approx(expected)


@pytest.mark.parametrize(("seed", "variance", "nearest"), [(0, 1.0, 4), (1, 3.0, 9), (2, 0.5, 1)])
def test_magnet_accuracy_brute_force(seed, variance, nearest):
    emb, labels, centers, center_labels = case(seed)
    expected = brute_soft(emb, labels, centers, center_labels, variance, nearest)
    got = magnet_accuracy(*t(emb, labels, centers, center_labels), variance, num_nearest=nearest)
    assert got == pytest.approx(expected)


def test_magnet_with_one_nearest_is_simple_accuracy():
    emb, labels, centers, center_labels = case(3)
    args = t(emb, labels, centers, center_labels)
    assert magnet_accuracy(*args, 2.0, num_nearest=1) == simple_accuracy(*args)


@pytest.mark.parametrize("sigma", [0.5, 2.0])
def test_repmet_accuracy_brute_force(sigma):
    emb, labels, centers, center_labels = case(4)
    expected = brute_soft(emb, labels, centers, center_labels, sigma**2, len(centers))
    got = repmet_accuracy(*t(emb, labels, centers, center_labels), sigma=sigma)
    assert got == pytest.approx(expected)


def test_repmet_accuracy_survives_underflow():
    emb, labels, centers, center_labels = case(5)
    # every exp(-d / 2 sigma^2) underflows to 0, but the nearest class still wins
    got = repmet_accuracy(*t(emb * 1e3, labels, centers * 1e3, center_labels), sigma=0.01)
    assert got == simple_accuracy(*t(emb * 1e3, labels, centers * 1e3, center_labels))


def test_batch_accuracy_brute_force():
    emb, labels, _, _ = case(6, n=30)
    clusters = labels * 2 + (np.arange(30) % 2)  # two clusters per class
    means = {m: emb[clusters == m].mean(0) for m in set(clusters)}
    expected = np.mean(
        [
            min(means, key=lambda m: sqd(r, means[m])) // 2 == y
            for r, y in zip(emb, labels, strict=True)
        ]
    )
    assert batch_accuracy(*t(emb, labels, clusters)) == pytest.approx(expected)
    per_class = {c: emb[labels == c].mean(0) for c in set(labels)}
    expected = np.mean(
        [min(per_class, key=lambda c: sqd(r, per_class[c])) == y for r, y in zip(emb, labels)]
    )
    assert batch_accuracy(*t(emb, labels)) == pytest.approx(expected)


def test_unsupervised_accuracy_brute_force_matching():
    emb, labels, _, _ = case(7, n=60, classes=4)
    assigned = KMeans(4, n_init=10, random_state=3).fit_predict(emb)
    best = max(
        sum(perm[a] == y for a, y in zip(assigned, labels))
        for perm in itertools.permutations(range(4))
    )
    got = unsupervised_accuracy(*t(emb, labels), seed=3, assignment="hungarian")
    assert got == pytest.approx(best / 60)


def test_unsupervised_accuracy_greedy_is_the_majority_class_of_each_cluster():
    # seed 003: "greedily assign classes to clusters based on the class of samples that fall in
    # that cluster"; two clusters may take the same class, which one-to-one matching forbids
    emb, labels, _, _ = case(8, n=60, classes=4)
    assigned = KMeans(4, n_init=10, random_state=3).fit_predict(emb)
    expected = sum(max(np.sum(labels[assigned == c] == y) for y in range(4)) for c in range(4)) / 60
    assert unsupervised_accuracy(*t(emb, labels), seed=3) == pytest.approx(expected)
    hungarian = unsupervised_accuracy(*t(emb, labels), seed=3, assignment="hungarian")
    assert hungarian <= expected
    with pytest.raises(ValueError, match="greedy"):
        unsupervised_accuracy(*t(emb, labels), assignment="best")


def test_unsupervised_accuracy_known_case():
    rng = np.random.default_rng(0)
    centres = np.array([[0.0, 0.0], [100.0, 0.0], [0.0, 100.0]])
    labels = np.repeat([2, 0, 1], 10)  # class ids need not follow cluster order
    emb = centres[np.repeat([0, 1, 2], 10)] + rng.normal(size=(30, 2))
    labels[:2] = 1  # two examples of class 1 sit in class 2's blob
    assert unsupervised_accuracy(*t(emb, labels)) == pytest.approx(28 / 30)
    assert unsupervised_accuracy(*t(emb, labels), assignment="hungarian") == pytest.approx(28 / 30)


class FlattenEmbedder(torch.nn.Module):
    """An embedder whose embedding is the flattened image (plus one unused parameter)."""

    clusters_per_class, clusters_per_batch, samples_per_cluster = 2, 3, 2

    def __init__(self):
        super().__init__()
        self.unused = torch.nn.Parameter(torch.zeros(1))

    def embed(self, x, sample=False):
        return x.flatten(1)


def image_split(seed, n=60):
    rng = np.random.default_rng(seed)
    labels = np.arange(n) % 3
    images = np.clip(labels[:, None] * 80 + rng.normal(0, 30, size=(n, 4)), 0, 255)
    return SimpleNamespace(
        images=torch.tensor(images, dtype=torch.uint8).view(n, 1, 2, 2),
        labels=torch.tensor(labels),
    )


def test_metric_accuracies_combine_the_five():
    dataset = SimpleNamespace(splits={"train": image_split(0), "test": image_split(1)})
    got = metric_accuracies(FlattenEmbedder(), dataset, seed=4, num_nearest=3)
    emb = {s: dataset.splits[s].images.flatten(1).float() / 255 for s in ("train", "test")}
    index = per_class_kmeans(emb["train"], dataset.splits["train"].labels, 2, seed=4)
    assert set(got) == {
        f"{name}_accuracy_{s}"
        for name in ("batch", "simple", "magnet", "repmet", "unsupervised", "hungarian")
        for s in ("train", "test")
    } | {
        f"{name}_error_{s}"
        for name in ("simple", "magnet", "repmet", "unsupervised")
        for s in ("train", "test")
    }
    for s in ("train", "test"):
        y = dataset.splits[s].labels
        args = emb[s], y, index.centers, index.labels
        assert got[f"simple_accuracy_{s}"] == simple_accuracy(*args)
        assert got[f"magnet_accuracy_{s}"] == magnet_accuracy(*args, index.variance, 3)
        # seed 003: the RepMet accuracy's sigma^2 is 0.5 for every model
        assert got[f"repmet_accuracy_{s}"] == repmet_accuracy(*args, sigma=float(np.sqrt(0.5)))
        assert got[f"unsupervised_accuracy_{s}"] == unsupervised_accuracy(emb[s], y, seed=4)
        assert got[f"hungarian_accuracy_{s}"] == unsupervised_accuracy(
            emb[s], y, seed=4, assignment="hungarian"
        )
        for name in ("simple", "magnet", "repmet", "unsupervised"):
            assert got[f"{name}_error_{s}"] == 1 - got[f"{name}_accuracy_{s}"]
        assert 0.5 < got[f"batch_accuracy_{s}"] <= 1
        assert got[f"simple_accuracy_{s}"] > 0.5  # three separated classes, chance is 1/3


class RepresentativeEmbedder(FlattenEmbedder):
    """A flatten embedder with RepMet-style representatives (one per class)."""

    def __init__(self, representatives):
        super().__init__()
        self.objective = SimpleNamespace(
            loss=SimpleNamespace(
                representatives=representatives, rep_labels=torch.arange(3), sigma=0.5
            )
        )


def test_batch_accuracy_of_a_representative_model_uses_its_representatives():
    # representatives that send every example to the wrong class: batch accuracy from them is
    # 0, while in-batch cluster means (the Magnet definition) would classify well
    dataset = SimpleNamespace(splits={"train": image_split(0), "test": image_split(1)})
    emb = dataset.splits["train"].images.flatten(1).float() / 255
    means = torch.stack([emb[dataset.splits["train"].labels == c].mean(0) for c in range(3)])
    wrong = means[[1, 2, 0]]  # class c's representative sits on class c+1's examples
    got = metric_accuracies(RepresentativeEmbedder(wrong), dataset, seed=4, splits=("train",))
    assert got["batch_accuracy_train"] == 0.0
    assert got["simple_accuracy_train"] == 0.0
