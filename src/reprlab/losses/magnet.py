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

With a reference set (pytorch-metric-learning's ``ref_emb``), the means mu_m and sigma^2 come
from the reference embeddings and the losses l_n from the query embeddings.
"""

import warnings
from typing import Literal

import torch
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
from torch import Tensor, nn

from reprlab.errors import ConfigError
from reprlab.losses.legacy import mean_that_unpacks
from reprlab.losses.named import reduce
from reprlab.losses.pml import MetricLoss

Variance = Literal["paper", "tf-reference"]
_VARIANCES = ("paper", "tf-reference")


def magnet_loss(
    embeddings: Tensor,
    labels: Tensor,
    clusters: Tensor | None = None,
    alpha: float = 1.0,
    variance: Variance = "paper",
    reduction: str = "mean",
) -> Tensor:
    """Magnet loss of a batch, reduced by ``reduction`` ('mean' | 'sum' | 'none' for [N]).

    ``embeddings`` [N, D]; ``labels`` [N] class ids; ``clusters`` [N] integer cluster ids (any
    integers; every member of a cluster must share its class). Without ``clusters`` each class
    is one cluster. An example with no cluster of another class in the batch has loss 0.
    """
    losses, _ = magnet_terms(embeddings, labels, clusters, alpha, variance)
    if reduction == "mean":
        return mean_that_unpacks(losses, "magnet_loss")
    return reduce(losses, reduction)


def magnet_terms(
    embeddings: Tensor,
    labels: Tensor,
    clusters: Tensor | None = None,
    alpha: float = 1.0,
    variance: Variance = "paper",
    *,
    ref_emb: Tensor | None = None,
    ref_labels: Tensor | None = None,
    ref_clusters: Tensor | None = None,
) -> tuple[Tensor, Tensor]:
    """``(per-example losses [N], sigma^2)`` of `magnet_loss`; sigma^2 is the batch variance.

    With ``ref_emb`` (and its ``ref_labels``, ``ref_clusters``), the cluster means and sigma^2
    are those of the reference set, which must hold every cluster of the batch.
    """
    if variance not in _VARIANCES:
        raise ConfigError(f"variance must be one of {_VARIANCES}, got {variance!r}")
    if embeddings.ndim != 2 or labels.shape != embeddings.shape[:1]:
        raise ConfigError("embeddings must be [N, D] and labels [N]")
    own_clusters = clusters is not None
    clusters = _cluster_ids(labels, clusters)
    if ref_emb is None:
        ref_emb, ref_labels, ref_clusters = embeddings, labels, clusters
    else:
        if ref_labels is None or ref_emb.ndim != 2 or ref_labels.shape != ref_emb.shape[:1]:
            raise ConfigError("ref_emb must be [M, D] with ref_labels [M]")
        if (ref_clusters is not None) != own_clusters:
            raise ConfigError("pass ref_clusters with clusters (and neither without)")
        ref_clusters = _cluster_ids(ref_labels, ref_clusters)
    if ref_emb.shape[0] < 2:
        raise ConfigError("magnet_loss needs at least 2 examples to estimate the variance")

    ids, ref_member = torch.unique(ref_clusters, return_inverse=True)  # [M] in 0..K-1
    one_hot = nn.functional.one_hot(ref_member, len(ids)).to(ref_emb.dtype)  # [M, K]
    means = (one_hot.T @ ref_emb) / one_hot.sum(0, keepdim=True).T  # [K, D]
    cluster_labels = torch.zeros(len(ids), dtype=ref_labels.dtype, device=ref_labels.device)
    cluster_labels = cluster_labels.scatter(0, ref_member, ref_labels)
    if not torch.equal(cluster_labels[ref_member], ref_labels):
        raise ConfigError("every member of a cluster must have the same label")
    ref_own = (ref_emb - means[ref_member]).pow(2).sum(1)
    sigma2 = ref_own.sum() / (ref_emb.shape[0] - 1)
    scale = 2 * sigma2 if variance == "paper" else 2 * sigma2.pow(2)

    if ref_emb is embeddings:
        member = ref_member
    else:
        member = torch.searchsorted(ids, clusters).clamp_max(len(ids) - 1)
        if not torch.equal(ids[member], clusters):
            raise ConfigError("every cluster of the batch needs members in ref_emb")
        if not torch.equal(cluster_labels[member], labels):
            raise ConfigError("every member of a cluster must have the same label")
    sq_dist = (embeddings[:, None, :] - means[None, :, :]).pow(2).sum(-1)  # [N, K]
    own = sq_dist.gather(1, member[:, None]).squeeze(1)
    other = cluster_labels[None, :] != labels[:, None]  # [N, K]
    has_other = other.any(1)
    logits = (-sq_dist / scale).masked_fill(~other, float("-inf"))
    logits = torch.where(has_other[:, None], logits, torch.zeros_like(logits))
    losses = torch.relu(own / scale + alpha + torch.logsumexp(logits, dim=1))
    losses = torch.where(has_other, losses, torch.zeros_like(losses))
    return losses, sigma2


def _cluster_ids(labels: Tensor, clusters: Tensor | None) -> Tensor:
    if clusters is None:
        return labels
    if clusters.shape != labels.shape or clusters.dtype.is_floating_point:
        raise ConfigError("clusters must be an integer tensor shaped like labels")
    return clusters.to(labels.device)


class MagnetLoss(MetricLoss):
    """Magnet loss as a pytorch-metric-learning loss.

    ``forward(embeddings, labels, indices_tuple=None, ref_emb=None, ref_labels=None, *,
    clusters=None, ref_clusters=None)``. Cluster ids come one of two ways:

    - the ``clusters=`` keyword (and ``ref_clusters=`` with ``ref_emb``), [N] integers;
    - ``cluster_classes=``, a tensor mapping each cluster id to its class: ``labels`` are then
      cluster ids and their classes ``cluster_classes[labels]``. Use this form under
      ``DistributedLossWrapper`` and `reprlab.losses.pml.CrossBatchMemory`, which pass only
      ``labels`` on; set ``loss.cluster_classes`` again when the clusters change.

    With neither, each class is one cluster. A miner's ``indices_tuple`` weights each example's
    loss by how often it appears in it (pytorch-metric-learning's ``convert_to_weights``, as its
    ``NCALoss`` does). ``reduction`` is torch's; ``reducer=`` takes a pytorch-metric-learning
    reducer instead (the losses are per example: ``reduction_type='element'``).
    """

    def __init__(
        self,
        alpha: float = 1.0,
        variance: Variance = "paper",
        reduction: str = "mean",
        *,
        cluster_classes: Tensor | None = None,
        **kwargs,
    ) -> None:
        if variance not in _VARIANCES:
            raise ConfigError(f"variance must be one of {_VARIANCES}, got {variance!r}")
        super().__init__(reduction=reduction, **kwargs)
        self.alpha, self.variance = alpha, variance
        self.cluster_classes = cluster_classes
        self.add_to_recordable_attributes(list_of_names=["alpha"], is_stat=False)

    def forward(
        self,
        embeddings: Tensor,
        labels: Tensor | None = None,
        indices_tuple=None,
        ref_emb: Tensor | None = None,
        ref_labels: Tensor | None = None,
        *,
        clusters: Tensor | None = None,
        ref_clusters: Tensor | None = None,
    ) -> Tensor:
        if isinstance(indices_tuple, Tensor):
            warnings.warn(
                "MagnetLoss()(embeddings, labels, clusters) is deprecated: the third argument "
                "is now a miner's indices_tuple; pass clusters=clusters",
                DeprecationWarning,
                stacklevel=2,
            )
            clusters, indices_tuple = indices_tuple, None
        if labels is None:
            raise ConfigError(
                "MagnetLoss needs labels: class ids, or cluster ids with cluster_classes="
            )
        labels = labels.to(embeddings.device)
        if self.cluster_classes is not None:
            if clusters is not None or ref_clusters is not None:
                raise ConfigError(
                    "with cluster_classes the labels are the cluster ids; drop clusters="
                )
            classes = self.cluster_classes.to(labels.device)
            clusters, labels = labels, classes[labels]
            if ref_labels is not None:
                ref_clusters, ref_labels = ref_labels, classes[ref_labels.to(labels.device)]
        self.reset_stats()
        ref = ref_emb if ref_emb is not None else embeddings
        loss_dict = self.compute_loss(
            embeddings, labels, indices_tuple, ref, ref_labels, clusters, ref_clusters
        )
        self.add_embedding_regularization_to_loss_dict(loss_dict, embeddings)
        return self.reducer(loss_dict, embeddings, labels)

    def compute_loss(
        self,
        embeddings,
        labels,
        indices_tuple,
        ref_emb,
        ref_labels,
        clusters=None,
        ref_clusters=None,
    ) -> dict:
        with_ref = ref_emb is not embeddings
        losses, _ = magnet_terms(
            embeddings,
            labels,
            clusters,
            self.alpha,
            self.variance,
            ref_emb=ref_emb if with_ref else None,
            ref_labels=ref_labels if with_ref else None,
            ref_clusters=ref_clusters if with_ref else None,
        )
        weights = lmu.convert_to_weights(indices_tuple, labels, losses.dtype, using_ref=with_ref)
        return {
            "loss": {
                "losses": losses * weights,
                "indices": torch.arange(len(losses), device=losses.device),
                "reduction_type": "element",
            }
        }

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, variance={self.variance!r}, reduction={self.reduction!r}"
