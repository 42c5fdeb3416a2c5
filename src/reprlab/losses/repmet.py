"""RepMet loss (Karlinsky et al., "RepMet: Representative-based Metric Learning for
Classification and Few-shot Object Detection", CVPR 2019).

Each class i has K learnable representatives R_ij. With squared Euclidean distances
d_ij = ||E - R_ij||^2 (RepMet eq. 1 uses exp(-d_ij / (2 sigma^2))) and i* the true class:

- ``version=1`` (paper, Magnet-style): nearest same-class representative in the numerator,
  other-class representatives in the denominator,
  l = [ d_{i*j*} / (2 sigma^2) + alpha + log sum_{i != i*, j} exp(-d_ij / (2 sigma^2)) ]_+ ;
- ``version=2`` (the authors' suggested change, as in HaydenFaulkner/pytorch.repmet): all
  same-class representatives in the numerator, all representatives in the denominator,
  l = -log( sum_j exp(-d_{i*j} / 2 sigma^2) / sum_{i, j} exp(-d_ij / 2 sigma^2) ),
  the cross-entropy of the class posterior of RepMet eq. 5 (always > 0, so ``alpha`` is unused);
- ``version='hinge'`` (RepMet eq. 4, as in the released code, on squared distances):
  l = [ min_j d_{i*j} - min_{i != i*, j} d_ij + alpha ]_+ .
"""

from typing import Literal

import torch
from pytorch_metric_learning.utils import common_functions as c_f
from pytorch_metric_learning.utils import loss_and_miner_utils as lmu
from torch import Tensor, nn

from reprlab.errors import ConfigError
from reprlab.losses.legacy import mean_that_unpacks
from reprlab.losses.named import reduce
from reprlab.losses.pml import MetricLoss

Version = Literal[1, 2, "hinge"]
_VERSIONS = (1, 2, "hinge")


def representative_labels(num_classes: int, reps_per_class: int) -> Tensor:
    """Class of each representative when they are stored class by class: ``r // K``."""
    return torch.arange(num_classes).repeat_interleave(reps_per_class)


def repmet_loss(
    embeddings: Tensor,
    labels: Tensor,
    representatives: Tensor,
    rep_labels: Tensor,
    version: Version = 1,
    sigma: float = 0.5,
    alpha: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """RepMet loss, reduced by ``reduction`` ('mean' | 'sum' | 'none' for [N]).

    ``representatives`` [R, D] with classes ``rep_labels`` [R]; every label in ``labels`` must have
    at least one representative. An example with no other-class representative has loss 0
    (versions 1 and 'hinge').
    """
    losses = _repmet_terms(embeddings, labels, representatives, rep_labels, version, sigma, alpha)
    if reduction == "mean":
        return mean_that_unpacks(losses, "repmet_loss")
    return reduce(losses, reduction)


def _repmet_terms(embeddings, labels, representatives, rep_labels, version, sigma, alpha):
    if version not in _VERSIONS:
        raise ConfigError(f"version must be one of {_VERSIONS}, got {version!r}")
    sq_dist = (
        embeddings.pow(2).sum(1, keepdim=True)
        + representatives.pow(2).sum(1)[None, :]
        - 2 * embeddings @ representatives.T
    ).clamp_min(0)  # [N, R]
    same = labels[:, None] == rep_labels[None, :].to(labels.device)
    if not bool(same.any(1).all()):
        raise ConfigError("every label needs at least one representative")
    other = ~same
    has_other = other.any(1)
    inf = torch.tensor(float("inf"), dtype=sq_dist.dtype, device=sq_dist.device)
    logits = -sq_dist / (2 * sigma**2)
    if version == "hinge":
        nearest_same = torch.where(same, sq_dist, inf).min(1).values
        nearest_other = torch.where(other, sq_dist, inf).min(1).values
        nearest_other = torch.where(has_other, nearest_other, nearest_same + alpha)
        losses = torch.relu(nearest_same - nearest_other + alpha)
        losses = torch.where(has_other, losses, torch.zeros_like(losses))
    elif version == 1:
        nearest_same = torch.where(same, sq_dist, inf).min(1).values
        masked = torch.where(other, logits, -inf)
        masked = torch.where(has_other[:, None], masked, torch.zeros_like(masked))
        losses = torch.relu(nearest_same / (2 * sigma**2) + alpha + torch.logsumexp(masked, 1))
        losses = torch.where(has_other, losses, torch.zeros_like(losses))
    else:
        numerator = torch.logsumexp(torch.where(same, logits, -inf), 1)
        losses = torch.logsumexp(logits, 1) - numerator
    return losses


class RepresentativeLoss(MetricLoss):
    """Base of the losses with ``num_classes * reps_per_class`` learnable representatives, as
    pytorch-metric-learning losses: ``forward(embeddings, labels, indices_tuple=None)``.

    Representatives are stored class by class (``representative_labels``) and start random;
    `set_representatives` seeds them, for instance with per-class k-means centres
    (`reprlab.metric_learning.per_class_kmeans`). They are the reference set, so ``ref_emb``
    is not supported (as in the library's proxy losses). A miner's ``indices_tuple`` weights
    each example's loss by how often it appears in it (the library's ``convert_to_weights``).
    ``reduction`` is torch's; ``reducer=`` takes a pytorch-metric-learning reducer instead
    (``reduction_type='element'``). Subclasses define `per_example`.
    """

    def __init__(
        self,
        num_classes: int,
        reps_per_class: int,
        dim: int,
        reduction: str = "mean",
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(reduction=reduction, **kwargs)
        self.num_classes, self.reps_per_class, self.dim = num_classes, reps_per_class, dim
        generator = torch.Generator().manual_seed(seed)
        reps = torch.randn(num_classes * reps_per_class, dim, generator=generator)
        self.representatives = nn.Parameter(nn.functional.normalize(reps, dim=1))
        self.register_buffer(
            "rep_labels", representative_labels(num_classes, reps_per_class), persistent=False
        )

    @torch.no_grad()
    def set_representatives(self, representatives: Tensor) -> None:
        """Overwrite the representatives ([num_classes * reps_per_class, dim], class by class)."""
        if representatives.shape != self.representatives.shape:
            raise ConfigError(
                f"representatives must be {tuple(self.representatives.shape)}, "
                f"got {tuple(representatives.shape)}"
            )
        self.representatives.copy_(representatives)

    def per_example(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Per-example losses [N]."""
        raise NotImplementedError

    def compute_loss(self, embeddings, labels, indices_tuple, ref_emb, ref_labels) -> dict:
        c_f.labels_required(labels)
        c_f.ref_not_supported(embeddings, labels, ref_emb, ref_labels)
        losses = self.per_example(embeddings, labels)
        weights = lmu.convert_to_weights(indices_tuple, labels, losses.dtype)
        return {
            "loss": {
                "losses": losses * weights,
                "indices": torch.arange(len(losses), device=losses.device),
                "reduction_type": "element",
            }
        }


class RepMetLoss(RepresentativeLoss):
    """RepMet loss (Karlinsky et al. 2019) with ``num_classes * reps_per_class`` learnable
    representatives, as a pytorch-metric-learning loss (`RepresentativeLoss`)."""

    def __init__(
        self,
        num_classes: int,
        reps_per_class: int,
        dim: int,
        version: Version = 1,
        sigma: float = 0.5,
        alpha: float = 1.0,
        reduction: str = "mean",
        seed: int = 0,
        **kwargs,
    ) -> None:
        if version not in _VERSIONS:
            raise ConfigError(f"version must be one of {_VERSIONS}, got {version!r}")
        super().__init__(num_classes, reps_per_class, dim, reduction, seed, **kwargs)
        self.version, self.sigma, self.alpha = version, sigma, alpha

    def per_example(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Per-example losses [N]."""
        return _repmet_terms(
            embeddings,
            labels.to(embeddings.device),
            self.representatives,
            self.rep_labels,
            self.version,
            self.sigma,
            self.alpha,
        )

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, reps_per_class={self.reps_per_class}, "
            f"dim={self.dim}, version={self.version!r}, sigma={self.sigma}, alpha={self.alpha}"
        )
