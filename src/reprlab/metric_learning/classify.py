"""Nearest-centre classification of embeddings, shared by training (the batch accuracy logged
each step) and evaluation (`reprlab.evaluate.metric_accuracy`). Distances are squared
Euclidean, computed in float64.
"""

import torch
from torch import Tensor


def sq_dist(a: Tensor, b: Tensor) -> Tensor:
    """Squared Euclidean distances ``[len(a), len(b)]`` (float64, clamped at 0)."""
    a, b = a.double(), b.double()
    return (a.pow(2).sum(1, keepdim=True) + b.pow(2).sum(1)[None] - 2 * a @ b.T).clamp_min(0)


def accuracy(predictions: Tensor, labels: Tensor) -> float:
    """Fraction of ``predictions`` equal to ``labels``."""
    return float((predictions.cpu() == labels.cpu()).double().mean())


def simple_predict(embeddings: Tensor, centers: Tensor, center_labels: Tensor) -> Tensor:
    """Class of the nearest centre."""
    return center_labels[sq_dist(embeddings, centers).argmin(1)]


def batch_accuracy(embeddings: Tensor, labels: Tensor, clusters: Tensor | None = None) -> float:
    """Fraction of a batch whose nearest in-batch cluster mean has its class (one cluster per
    class without ``clusters``)."""
    clusters = labels if clusters is None else clusters
    ids, member = torch.unique(clusters, return_inverse=True)
    means = torch.stack([embeddings[member == m].mean(0) for m in range(len(ids))])
    cluster_labels = torch.stack([labels[member == m][0] for m in range(len(ids))])
    return accuracy(simple_predict(embeddings, means, cluster_labels), labels)


def simple_accuracy(
    embeddings: Tensor, labels: Tensor, centers: Tensor, center_labels: Tensor
) -> float:
    """Nearest training cluster (or representative) classifier."""
    return accuracy(simple_predict(embeddings, centers, center_labels), labels)
