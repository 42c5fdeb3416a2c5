"""Training objectives of an embedder: Magnet, RepMet, and pytorch-metric-learning baselines.

Each objective is an ``nn.Module`` called as ``objective(embeddings, labels, clusters=None)``
and returning ``(loss, per-example losses or None)``. Its own parameters (RepMet
representatives, proxy-anchor proxies) belong to the model and are trained with it.

- ``magnet``: `reprlab.losses.magnet.magnet_loss` (Rippel et al. 2016); keeps the running mean
  of the batch sigma^2 over training for the Magnet accuracy (paper eq. 6);
- ``repmet``: `reprlab.losses.repmet.RepMetLoss` (Karlinsky et al. 2019);
- ``my-loss``: seed 003's "My Loss" (`reprlab.losses.my_loss.MyLoss`), a margin between each
  representative's farthest own-class sample and the other classes' samples;
- ``triplet``: pytorch-metric-learning's ``TripletMarginLoss`` on the triplets of its
  ``BatchHardMiner`` (Hermans et al. 2017, "In Defense of the Triplet Loss");
- ``proxy-anchor``: pytorch-metric-learning's ``ProxyAnchorLoss`` (Kim et al. 2020).
"""

import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners
from torch import Tensor, nn

from reprlab.losses.magnet import Variance, magnet_terms
from reprlab.losses.my_loss import MyLoss
from reprlab.losses.repmet import RepMetLoss, Version


class MagnetObjective(nn.Module):
    """Magnet loss; ``sigma2_mean`` is the mean batch sigma^2 over training steps so far."""

    def __init__(self, alpha: float = 1.0, variance: Variance = "paper") -> None:
        super().__init__()
        self.alpha, self.variance = alpha, variance
        self.register_buffer("sigma2_sum", torch.zeros((), dtype=torch.float64))
        self.register_buffer("sigma2_count", torch.zeros((), dtype=torch.int64))

    @property
    def sigma2_mean(self) -> float | None:
        count = int(self.sigma2_count)
        return float(self.sigma2_sum) / count if count else None

    def forward(self, embeddings: Tensor, labels: Tensor, clusters: Tensor | None = None):
        losses, sigma2 = magnet_terms(embeddings, labels, clusters, self.alpha, self.variance)
        if self.training:
            self.sigma2_sum += sigma2.detach().double()
            self.sigma2_count += 1
        return losses.mean(), losses


class RepMetObjective(nn.Module):
    """RepMet loss with ``num_classes * reps_per_class`` learnable representatives."""

    def __init__(
        self,
        num_classes: int,
        reps_per_class: int,
        dim: int,
        version: Version = 1,
        sigma: float = 0.5,
        alpha: float = 1.0,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.loss = RepMetLoss(num_classes, reps_per_class, dim, version, sigma, alpha, seed=seed)

    def forward(self, embeddings: Tensor, labels: Tensor, clusters: Tensor | None = None):
        losses = self.loss.per_example(embeddings, labels)
        return losses.mean(), losses


class MyLossObjective(nn.Module):
    """Seed 003's My Loss with ``num_classes * reps_per_class`` learnable representatives; its
    batch accuracy is the nearest representative's class (as RepMet's)."""

    def __init__(
        self, num_classes: int, reps_per_class: int, dim: int, alpha: float = 1.0, seed: int = 0
    ) -> None:
        super().__init__()
        self.loss = MyLoss(num_classes, reps_per_class, dim, alpha, seed=seed)

    def forward(self, embeddings: Tensor, labels: Tensor, clusters: Tensor | None = None):
        losses = self.loss.per_example(embeddings, labels)
        return losses.mean(), losses


class TripletObjective(nn.Module):
    """Triplet margin loss over batch-hard triplets (pytorch-metric-learning)."""

    def __init__(self, margin: float = 0.2) -> None:
        super().__init__()
        self.miner = pml_miners.BatchHardMiner()
        self.loss = pml_losses.TripletMarginLoss(margin=margin)

    def forward(self, embeddings: Tensor, labels: Tensor, clusters: Tensor | None = None):
        return self.loss(embeddings, labels, self.miner(embeddings, labels)), None


class ProxyAnchorObjective(nn.Module):
    """Proxy-anchor loss (pytorch-metric-learning), one learnable proxy per class.

    The proxies learn ``lr_scale`` times faster than the network (``lr_scale`` is read by
    `reprlab.train.make_optimizer`): Kim et al. 2020, Sec. 4.1, train them at 100x the
    learning rate.
    """

    def __init__(
        self,
        num_classes: int,
        dim: int,
        margin: float = 0.1,
        alpha: float = 32.0,
        seed: int = 0,
        lr_scale: float = 100.0,
    ) -> None:
        super().__init__()
        self.lr_scale = lr_scale
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.loss = pml_losses.ProxyAnchorLoss(num_classes, dim, margin=margin, alpha=alpha)

    def forward(self, embeddings: Tensor, labels: Tensor, clusters: Tensor | None = None):
        return self.loss(embeddings, labels), None


OBJECTIVES = {
    "magnet": MagnetObjective,
    "repmet": RepMetObjective,
    "my-loss": MyLossObjective,
    "triplet": TripletObjective,
    "proxy-anchor": ProxyAnchorObjective,
}
