"""Magnet training on scikit-learn's digits with a plain loop: batches, loss, refresh, accuracy."""

from types import SimpleNamespace

import numpy as np
import torch
from sklearn.datasets import load_digits

from reprlab.evaluate.metric_accuracy import metric_accuracies
from reprlab.metric_learning.clusters import embed_images, per_class_kmeans
from reprlab.metric_learning.objectives import MagnetObjective
from reprlab.metric_learning.sampler import MagnetBatchLoader, MagnetBatchSampler
from reprlab.models.embedder_backbones import MLPEmbedder


class Embedder(torch.nn.Module):
    clusters_per_class, clusters_per_batch, samples_per_cluster = 3, 6, 8

    def __init__(self):
        super().__init__()
        torch.manual_seed(0)
        self.backbone = MLPEmbedder((1, 8, 8), embedding_dim=16, hidden=(64,))
        self.objective = MagnetObjective(alpha=1.0)

    def embed(self, x, sample=False):
        return self.backbone(x)


def digits():
    data = load_digits()
    images = torch.tensor(data.images * (255 / 16), dtype=torch.uint8)[:, None]
    labels = torch.tensor(data.target)
    order = np.random.default_rng(0).permutation(len(labels))
    train, test = torch.from_numpy(order[:1200]), torch.from_numpy(order[1200:])
    split = lambda rows: SimpleNamespace(images=images[rows], labels=labels[rows])  # noqa: E731
    return SimpleNamespace(splits={"train": split(train), "test": split(test)})


def test_magnet_learns_digits_with_refreshes():
    dataset = digits()
    train = dataset.splits["train"]
    model = Embedder()
    untrained = metric_accuracies(model, dataset, seed=0)
    index = per_class_kmeans(embed_images(model, train.images), train.labels, 3, seed=0)
    sampler = MagnetBatchSampler(index, m=6, d=8)
    loader = MagnetBatchLoader(train, sampler, seed=0, steps_per_epoch=100)
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    first = []
    for step, (x, y, clusters) in enumerate(loader.epoch(0), 1):
        loss, per_example = model.objective(model.embed(x), y, clusters)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        sampler.record(loader.last_indices, per_example.detach())
        first.append(loss.item())
        if step % 25 == 0:
            embeddings = embed_images(model, train.images)
            sampler.index = per_class_kmeans(embeddings, train.labels, 3, seed=step, previous=index)
    assert np.mean(first[-20:]) < np.mean(first[:20])
    assert not np.isnan(sampler.example_losses).all()
    results = metric_accuracies(model, dataset, seed=0)
    # chance is 0.1; nearest-cluster on a random MLP's embedding of digits already gets ~0.8
    for name in ("simple", "magnet", "repmet", "unsupervised"):
        assert results[f"{name}_accuracy_test"] > untrained[f"{name}_accuracy_test"] + 0.08
    assert results["simple_accuracy_test"] > 0.9
    assert results["magnet_accuracy_test"] > 0.9
    assert model.objective.sigma2_mean is not None
