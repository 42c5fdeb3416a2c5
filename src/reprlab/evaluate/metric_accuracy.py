"""The five accuracies of seed 003 (pytorch.repmet, README "Evaluation") for cluster- and
representative-based embedders, and their errors 1 - accuracy (the seed's table). All
distances are squared Euclidean.

- batch: each example of a Magnet batch goes to its nearest in-batch cluster mean (Magnet) or
  to the nearest representative (RepMet, My Loss); correct when that cluster's class is its own;
- simple: the class of the nearest training cluster, ``C(argmin_m ||r - mu_m||^2)``;
- Magnet (Rippel et al. 2016, eq. 6): ``argmax_c sum_{m in L nearest, C(m) = c}
  exp(-||r - mu_m||^2 / (2 sigma^2))`` over the L nearest clusters, sigma^2 averaged over
  training (the softmax normaliser does not change the argmax);
- RepMet (Karlinsky et al. 2019, eq. 5): the same sum over all clusters or representatives of
  each class, with sigma^2 = 0.5 for every model ("sig2 is set to 0.5 as in training");
- unsupervised: k-means with as many clusters as classes on the embeddings alone, each cluster
  assigned greedily to the class most of its samples have (the seed's definition; clusters may
  share a class); ``hungarian`` matches clusters to classes one to one instead (scipy's
  `linear_sum_assignment`).
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

REPMET_VARIANCE = 0.5  # seed 003: sigma^2 of the RepMet accuracy, for every model
#: the seed's table: errors of these accuracies on train and test
ERRORS = ("simple", "magnet", "repmet", "unsupervised")

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


def cluster_counts(
    embeddings: Tensor, labels: Tensor, num_clusters: int | None = None, seed: int = 0
) -> np.ndarray:
    """K-means (``num_clusters`` defaults to the number of classes) on the embeddings:
    ``counts[cluster, class]``, the examples of each class in each cluster."""
    y = labels.cpu().numpy()
    classes, y_idx = np.unique(y, return_inverse=True)
    k = num_clusters or len(classes)
    x = embeddings.detach().cpu().double().numpy()
    assigned = KMeans(k, n_init=10, random_state=seed).fit_predict(x)
    counts = np.zeros((k, len(classes)), dtype=np.int64)
    np.add.at(counts, (assigned, y_idx), 1)
    return counts


def unsupervised_accuracy(
    embeddings: Tensor,
    labels: Tensor,
    num_clusters: int | None = None,
    seed: int = 0,
    assignment: str = "greedy",
) -> float:
    """K-means then ``greedy`` (each cluster takes the class most of its examples have, seed
    003) or ``hungarian`` (the best one-to-one matching; unmatched clusters count as wrong)."""
    return assignment_accuracy(cluster_counts(embeddings, labels, num_clusters, seed), assignment)


def assignment_accuracy(counts: np.ndarray, assignment: str = "greedy") -> float:
    """The fraction of examples whose cluster is assigned their class, from
    ``counts[cluster, class]`` (`unsupervised_accuracy`'s two assignments)."""
    if assignment == "greedy":
        return float(counts.max(1).sum() / counts.sum())
    if assignment != "hungarian":
        raise ValueError(f"assignment must be 'greedy' or 'hungarian', got {assignment!r}")
    rows, cols = linear_sum_assignment(counts, maximize=True)
    return float(counts[rows, cols].sum() / counts.sum())


def mean_batch_accuracy(
    embeddings: Tensor,
    labels: Tensor,
    clusters_per_class: int,
    clusters_per_batch: int,
    samples_per_cluster: int,
    num_batches: int = 20,
    seed: int = 0,
    representatives: tuple[Tensor, Tensor] | None = None,
) -> float:
    """Mean batch accuracy over ``num_batches`` Magnet batches (M clusters, D examples each)
    drawn from a per-class k-means index of these embeddings: each example's nearest in-batch
    cluster mean (`batch_accuracy`), or with ``representatives`` ``(centres, classes)`` its
    nearest representative (RepMet, My Loss)."""
    index = per_class_kmeans(embeddings, labels, clusters_per_class, seed=seed)
    sampler = MagnetBatchSampler(index, clusters_per_batch, samples_per_cluster)
    rng = np.random.default_rng(seed)
    accuracies = []
    for _ in range(num_batches):
        rows, clusters = sampler.sample(rng)
        rows_t = torch.from_numpy(rows)
        if representatives is not None:
            accuracies.append(simple_accuracy(embeddings[rows_t], labels[rows_t], *representatives))
        else:
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
    """Seed 003's accuracies of an embedder on each split present, as
    ``{name}_accuracy_{split}`` (batch, simple, magnet, repmet, unsupervised, and hungarian
    for the one-to-one unsupervised matching), with ``{name}_error_{split}`` = 1 - accuracy
    for the seed's table (`ERRORS`).

    Centres: the model's representatives when it has them (RepMet, My Loss), else per-class
    k-means on the training embeddings with ``clusters_per_class`` (default the model's, else
    3) clusters. The Magnet accuracy's sigma^2 is the mean batch sigma^2 of Magnet training
    (else the index's pooled variance, or with representatives the RepMet sigma^2); the RepMet
    accuracy's is 0.5 for every model (`REPMET_VARIANCE`). Batch accuracy averages Magnet
    batches of the model's M and D (default 12 and 4) drawn from each split's own k-means
    index, assigning examples to the nearest representative when the model has them.
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
    representatives = None
    if hasattr(repmet, "representatives"):
        centers = repmet.representatives.detach().cpu()
        center_labels = repmet.rep_labels.cpu()
        variance = getattr(repmet, "sigma", REPMET_VARIANCE**0.5) ** 2
        representatives = (centers, center_labels)
    else:
        index = per_class_kmeans(train_emb, train.labels, k, seed=seed)
        centers, center_labels = index.centers, index.labels
        trained = getattr(objective, "sigma2_mean", None)
        variance = trained if trained else index.variance
    results: dict[str, float] = {}
    for split, emb in embedded.items():
        labels = dataset.splits[split].labels
        results[f"batch_accuracy_{split}"] = mean_batch_accuracy(
            emb, labels, k, m, d, seed=seed, representatives=representatives
        )
        results[f"simple_accuracy_{split}"] = simple_accuracy(emb, labels, centers, center_labels)
        results[f"magnet_accuracy_{split}"] = magnet_accuracy(
            emb, labels, centers, center_labels, variance, num_nearest
        )
        results[f"repmet_accuracy_{split}"] = repmet_accuracy(
            emb, labels, centers, center_labels, sigma=REPMET_VARIANCE**0.5
        )
        counts = cluster_counts(emb, labels, seed=seed)
        results[f"unsupervised_accuracy_{split}"] = assignment_accuracy(counts, "greedy")
        results[f"hungarian_accuracy_{split}"] = assignment_accuracy(counts, "hungarian")
        for name in ERRORS:
            results[f"{name}_error_{split}"] = 1.0 - results[f"{name}_accuracy_{split}"]
    return results
