"""Magnet loss (Rippel, Paluri, Dollár and Bourdev, "Metric Learning with Adaptive Density
Discrimination", ICLR 2016, eqs. 4-5).

For a batch of embeddings r_n drawn from clusters m with batch means mu_m,

    sigma^2 = sum_n ||r_n - mu(r_n)||^2 / (N - 1)
    l_n     = [ ||r_n - mu(r_n)||^2 / (2 sigma^2) + alpha
                + log sum_{m : C(m) != C(r_n)} exp(-||r_n - mu_m||^2 / (2 sigma^2)) ]_+

which is eq. 5, ``[-log(exp(-d_own / 2 sigma^2 - alpha) / sum_other exp(-d_m / 2 sigma^2))]_+``,
written in log-sum-exp form so that it neither overflows nor underflows.

``variance='tf-reference'`` divides the distances by ``2 sigma^4`` instead of ``2 sigma^2``, as
the public TensorFlow code (pumpikano/tf-magnet-loss, ``var_normalizer = -1 / (2 * variance**2)``)
does; it changes the effective temperature, so use it only to compare with that code.
"""

from typing import Literal

import torch
from torch import Tensor, nn

from reprlab.losses.named import check_reduction, reduce

Variance = Literal["paper", "tf-reference"]
_VARIANCES = ("paper", "tf-reference")


def magnet_loss(
    embeddings: Tensor,
    labels: Tensor,
    clusters: Tensor | None = None,
    alpha: float = 1.0,
    variance: Variance = "paper",
) -> tuple[Tensor, Tensor]:
    """Magnet loss of a batch; returns ``(mean loss, per-example losses [N])``.

    ``embeddings`` [N, D]; ``labels`` [N] class ids; ``clusters`` [N] integer cluster ids (any
    integers; every member of a cluster must share its class). Without ``clusters`` each class
    is one cluster. An example with no cluster of another class in the batch has loss 0.
    """
    losses, _ = magnet_terms(embeddings, labels, clusters, alpha, variance)
    return losses.mean(), losses


def magnet_terms(
    embeddings: Tensor,
    labels: Tensor,
    clusters: Tensor | None = None,
    alpha: float = 1.0,
    variance: Variance = "paper",
) -> tuple[Tensor, Tensor]:
    """``(per-example losses [N], sigma^2)`` of `magnet_loss`; sigma^2 is the batch variance."""
    if variance not in _VARIANCES:
        raise ValueError(f"variance must be one of {_VARIANCES}, got {variance!r}")
    if embeddings.ndim != 2 or labels.shape != embeddings.shape[:1]:
        raise ValueError("embeddings must be [N, D] and labels [N]")
    n = embeddings.shape[0]
    if n < 2:
        raise ValueError("magnet_loss needs at least 2 examples to estimate the variance")
    clusters = labels if clusters is None else clusters
    if clusters.shape != labels.shape or clusters.dtype.is_floating_point:
        raise ValueError("clusters must be an integer tensor shaped like labels")

    ids, member = torch.unique(clusters, return_inverse=True)  # member: [N] in 0..M-1
    one_hot = nn.functional.one_hot(member, len(ids)).to(embeddings.dtype)  # [N, M]
    means = (one_hot.T @ embeddings) / one_hot.sum(0, keepdim=True).T  # [M, D]
    cluster_labels = torch.zeros(len(ids), dtype=labels.dtype, device=labels.device)
    cluster_labels = cluster_labels.scatter(0, member, labels)
    if not torch.equal(cluster_labels[member], labels):
        raise ValueError("every member of a cluster must have the same label")

    sq_dist = (embeddings[:, None, :] - means[None, :, :]).pow(2).sum(-1)  # [N, M]
    own = sq_dist.gather(1, member[:, None]).squeeze(1)
    sigma2 = own.sum() / (n - 1)
    scale = 2 * sigma2 if variance == "paper" else 2 * sigma2.pow(2)

    other = cluster_labels[None, :] != labels[:, None]  # [N, M]
    has_other = other.any(1)
    logits = (-sq_dist / scale).masked_fill(~other, float("-inf"))
    logits = torch.where(has_other[:, None], logits, torch.zeros_like(logits))
    losses = torch.relu(own / scale + alpha + torch.logsumexp(logits, dim=1))
    losses = torch.where(has_other, losses, torch.zeros_like(losses))
    return losses, sigma2


class MagnetLoss(nn.Module):
    """Module form of `magnet_loss`; ``forward(embeddings, labels, clusters=None)``.

    Follows the pytorch-metric-learning call convention (embeddings and labels first).
    """

    def __init__(
        self, alpha: float = 1.0, variance: Variance = "paper", reduction: str = "mean"
    ) -> None:
        super().__init__()
        if variance not in _VARIANCES:
            raise ValueError(f"variance must be one of {_VARIANCES}, got {variance!r}")
        check_reduction(reduction)
        self.alpha, self.variance, self.reduction = alpha, variance, reduction

    def forward(self, embeddings: Tensor, labels: Tensor, clusters: Tensor | None = None) -> Tensor:
        _, losses = magnet_loss(embeddings, labels, clusters, self.alpha, self.variance)
        return reduce(losses, self.reduction)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, variance={self.variance!r}, reduction={self.reduction!r}"
