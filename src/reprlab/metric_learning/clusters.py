"""The cluster index of Magnet loss: per-class k-means over the training set's embeddings.

Rippel et al. (2016), section 3.3: each class is represented by K clusters found by k-means on
the current embeddings of all its training examples; the index is refreshed periodically while
training (`reprlab.metric_learning.callbacks.ClusterRefresh`). Cluster ids are contiguous integers
0..M-1, stored class by class, so that a cluster can never be mistaken for another.
"""

from dataclasses import dataclass

import numpy as np
import torch
from sklearn.cluster import KMeans
from torch import Tensor

from reprlab.data.device import resolve_device


@dataclass
class ClusterIndex:
    """Per-class clusters of a training set.

    ``centers`` [M, D] float32; ``labels`` [M] int64 (class of each cluster); ``assignments``
    [N] int64 (cluster of each training example); ``variance`` the pooled squared distance to the
    own cluster centre, ``sum_n ||r_n - mu(r_n)||^2 / (N - 1)`` (Magnet's sigma^2).
    """

    centers: Tensor
    labels: Tensor
    assignments: Tensor
    variance: float

    @property
    def num_clusters(self) -> int:
        return len(self.labels)

    def sizes(self) -> np.ndarray:
        """Number of training examples in each cluster."""
        return np.bincount(self.assignments.numpy(), minlength=self.num_clusters)

    def members(self, cluster: int) -> np.ndarray:
        """Training-example indices of ``cluster``."""
        return np.flatnonzero(self.assignments.numpy() == cluster)

    def state_dict(self) -> dict:
        return {
            "centers": self.centers.clone(),
            "labels": self.labels.clone(),
            "assignments": self.assignments.clone(),
            "variance": torch.tensor(self.variance, dtype=torch.float64),
        }

    @classmethod
    def from_state_dict(cls, state: dict) -> "ClusterIndex":
        return cls(
            state["centers"].float(),
            state["labels"].long(),
            state["assignments"].long(),
            float(state["variance"]),
        )


def embed_images(model, images: Tensor, batch_size: int = 512, device=None) -> Tensor:
    """``model.embed`` of uint8 NCHW images, in eval mode without gradients, as a CPU tensor.
    Computed on ``device`` (checked by `resolve_device`; the model is moved there), by default
    on the device of the model's weights."""
    was_training = model.training
    model.eval()
    if device is not None:
        model.to(resolve_device(device))
    device = next(iter(model.parameters())).device
    with torch.no_grad():
        out = [
            model.embed(images[i : i + batch_size].to(device, torch.float32) / 255.0).cpu()
            for i in range(0, len(images), batch_size)
        ]
    model.train(was_training)
    return torch.cat(out)


def per_class_kmeans(
    embeddings: Tensor,
    labels: Tensor,
    k: int,
    seed: int = 0,
    previous: ClusterIndex | None = None,
    n_init: int = 3,
) -> ClusterIndex:
    """K-means with ``k`` clusters inside each class (``min(k, class size)`` for small classes).

    With ``previous`` (an index of the same training set), each class starts from the means of
    its previous clusters on the new embeddings, so cluster ids keep their meaning across
    refreshes. Scikit-learn's `KMeans` does the clustering, seeded per class from ``seed``.
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    x = embeddings.detach().cpu().double().numpy()
    y = labels.cpu().numpy()
    centers, center_labels = [], []
    assignments = np.empty(len(y), dtype=np.int64)
    for c in np.unique(y):
        rows = np.flatnonzero(y == c)
        n_clusters = min(k, len(rows))
        init, runs = "k-means++", n_init
        if previous is not None:
            old = np.flatnonzero(previous.labels.numpy() == c)
            old_assign = previous.assignments.numpy()[rows]
            starts = [x[rows[old_assign == m]].mean(0) for m in old if (old_assign == m).any()]
            if len(starts) == n_clusters:
                init, runs = np.stack(starts), 1
        km = KMeans(n_clusters, init=init, n_init=runs, random_state=seed + int(c)).fit(x[rows])
        assignments[rows] = len(centers) + km.labels_
        centers.extend(km.cluster_centers_)
        center_labels.extend([int(c)] * n_clusters)
    centers_arr = np.stack(centers)
    sq = ((x - centers_arr[assignments]) ** 2).sum(1)
    return ClusterIndex(
        centers=torch.from_numpy(centers_arr).float(),
        labels=torch.tensor(center_labels, dtype=torch.int64),
        assignments=torch.from_numpy(assignments),
        variance=float(sq.sum() / max(len(y) - 1, 1)),
    )
