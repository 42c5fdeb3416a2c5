"""The five accuracies of seed 003 (pytorch.repmet) for cluster- and representative-based
embedders. All distances are squared Euclidean.

- batch: each batch example goes to its nearest in-batch cluster mean (Magnet) or nearest
  representative (RepMet); correct when that cluster's class is its own;
- simple: the class of the nearest training cluster, ``C(argmin_m ||r - mu_m||^2)``;
- Magnet (Rippel et al. 2016, eq. 6): ``argmax_c sum_{m in L nearest, C(m) = c}
  exp(-||r - mu_m||^2 / (2 sigma^2))`` over the L nearest clusters, sigma^2 averaged over
  training (the softmax normaliser does not change the argmax);
- RepMet (Karlinsky et al. 2019, eq. 5): the same sum over all representatives of each class,
  with the training sigma;
- unsupervised: k-means with as many clusters as classes on the embeddings alone, clusters
  matched to classes one to one by the Hungarian method (scipy's `linear_sum_assignment`).
"""

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from sklearn.cluster import KMeans
from torch import Tensor

from reprlab.metric_learning.classify import accuracy as _accuracy
from reprlab.metric_learning.classify import batch_accuracy, simple_accuracy, simple_predict
from reprlab.metric_learning.classify import sq_dist as _sq_dist
from reprlab.metric_learning.clusters import embed_images, per_class_kmeans
from reprlab.metric_learning.sampler import MagnetBatchSampler

__all__ = [
    "batch_accuracy",
    "magnet_accuracy",
    "mean_batch_accuracy",
    "metric_accuracies",
    "repmet_accuracy",
    "simple_accuracy",
    "simple_predict",
    "soft_predict",
    "unsupervised_accuracy",
]


def soft_predict(
    embeddings: Tensor,
    centers: Tensor,
    center_labels: Tensor,
    variance: float,
    num_nearest: int | None = None,
) -> Tensor:
    """``argmax_c sum_{m in L nearest, C(m) = c} exp(-d_m / (2 variance))`` (log-sum-exp form);
    ``num_nearest=None`` uses every centre."""
    logits = -_sq_dist(embeddings, centers) / (2 * variance)  # [N, M]
    if num_nearest is not None and num_nearest < logits.shape[1]:
        kept = logits.topk(num_nearest, dim=1).indices
        mask = torch.zeros_like(logits, dtype=torch.bool).scatter(1, kept, True)
        logits = logits.masked_fill(~mask, float("-inf"))
    classes = torch.unique(center_labels)
    scores = torch.stack(
        [torch.logsumexp(logits[:, center_labels == c], dim=1) for c in classes], dim=1
    )
    return classes[scores.argmax(1)]


def magnet_accuracy(
    embeddings: Tensor,
    labels: Tensor,
    centers: Tensor,
    center_labels: Tensor,
    variance: float,
    num_nearest: int = 128,
) -> float:
    """Magnet eq. 6 over the ``num_nearest`` (L) nearest clusters, capped at their number."""
    return _accuracy(
        soft_predict(embeddings, centers, center_labels, variance, num_nearest), labels
    )


def repmet_accuracy(
    embeddings: Tensor,
    labels: Tensor,
    representatives: Tensor,
    rep_labels: Tensor,
    sigma: float = 0.5,
) -> float:
    """RepMet's class posterior over all representatives, ``variance = sigma^2``."""
    return _accuracy(soft_predict(embeddings, representatives, rep_labels, sigma**2, None), labels)


def unsupervised_accuracy(
    embeddings: Tensor, labels: Tensor, num_clusters: int | None = None, seed: int = 0
) -> float:
    """K-means (``num_clusters`` defaults to the number of classes) then the best one-to-one
    matching of clusters to classes; unmatched clusters count as wrong."""
    y = labels.cpu().numpy()
    classes, y_idx = np.unique(y, return_inverse=True)
    k = num_clusters or len(classes)
    x = embeddings.detach().cpu().double().numpy()
    assigned = KMeans(k, n_init=10, random_state=seed).fit_predict(x)
    counts = np.zeros((k, len(classes)), dtype=np.int64)
    np.add.at(counts, (assigned, y_idx), 1)
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / len(y))


def mean_batch_accuracy(
    embeddings: Tensor,
    labels: Tensor,
    clusters_per_class: int,
    clusters_per_batch: int,
    samples_per_cluster: int,
    num_batches: int = 20,
    seed: int = 0,
) -> float:
    """Mean `batch_accuracy` over ``num_batches`` Magnet batches (M clusters, D examples each)
    drawn from a per-class k-means index of these embeddings."""
    index = per_class_kmeans(embeddings, labels, clusters_per_class, seed=seed)
    sampler = MagnetBatchSampler(index, clusters_per_batch, samples_per_cluster)
    rng = np.random.default_rng(seed)
    accuracies = []
    for _ in range(num_batches):
        rows, clusters = sampler.sample(rng)
        rows_t = torch.from_numpy(rows)
        accuracies.append(
            batch_accuracy(embeddings[rows_t], labels[rows_t], torch.from_numpy(clusters))
        )
    return float(np.mean(accuracies))


def metric_accuracies(
    model,
    dataset,
    splits: tuple[str, ...] = ("train", "test"),
    clusters_per_class: int | None = None,
    num_nearest: int = 128,
    seed: int = 0,
    batch_size: int = 512,
) -> dict[str, float]:
    """The five accuracies of an embedder on each split present, as ``{name}_accuracy_{split}``.

    Centres: the model's RepMet representatives when it has them (sigma as trained), else
    per-class k-means on the training embeddings with ``clusters_per_class`` (default the
    model's, else 3) clusters and sigma^2 the mean batch sigma^2 of Magnet training (else the
    index's pooled variance). Batch accuracy averages Magnet batches of the model's M and D
    (default 12 and 4) drawn from each split's own k-means index.
    """
    k = clusters_per_class or getattr(model, "clusters_per_class", 3)
    m = getattr(model, "clusters_per_batch", 12)
    d = getattr(model, "samples_per_cluster", 4)
    embedded = {
        s: embed_images(model, dataset.splits[s].images, batch_size)
        for s in splits
        if s in dataset.splits
    }
    train = dataset.splits["train"]
    train_emb = (
        embedded["train"] if "train" in embedded else embed_images(model, train.images, batch_size)
    )
    objective = getattr(model, "objective", None)
    repmet = getattr(objective, "loss", None)
    if hasattr(repmet, "representatives"):
        centers = repmet.representatives.detach().cpu()
        center_labels = repmet.rep_labels.cpu()
        variance = repmet.sigma**2
    else:
        index = per_class_kmeans(train_emb, train.labels, k, seed=seed)
        centers, center_labels = index.centers, index.labels
        trained = getattr(objective, "sigma2_mean", None)
        variance = trained if trained else index.variance
    results: dict[str, float] = {}
    for split, emb in embedded.items():
        labels = dataset.splits[split].labels
        results[f"batch_accuracy_{split}"] = mean_batch_accuracy(emb, labels, k, m, d, seed=seed)
        results[f"simple_accuracy_{split}"] = simple_accuracy(emb, labels, centers, center_labels)
        results[f"magnet_accuracy_{split}"] = magnet_accuracy(
            emb, labels, centers, center_labels, variance, num_nearest
        )
        results[f"repmet_accuracy_{split}"] = repmet_accuracy(
            emb, labels, centers, center_labels, sigma=float(np.sqrt(variance))
        )
        results[f"unsupervised_accuracy_{split}"] = unsupervised_accuracy(emb, labels, seed=seed)
    return results
