"""Seed 003's "My Loss" (HaydenFaulkner/pytorch.repmet, README, squared-Euclidean version): a
margin between each representative's farthest same-class sample and every other-class sample.

With squared distances d(n, j) from sample n to representative (or cluster centre) j, and J
the representatives whose class appears in the batch:

    m_j = max_{n : y_n = C(j)} d(n, j)
    l_n = (1 / |J|) sum_{j in J, C(j) != y_n} relu(m_j + alpha - d(n, j))

and the batch loss is the mean of l_n. It is 0 once every sample is at least alpha farther
from each other-class representative than that representative's farthest own sample.
"""

import torch
from torch import Tensor

from reprlab.losses.named import reduce
from reprlab.losses.repmet import RepresentativeLoss


def my_loss(
    embeddings: Tensor,
    labels: Tensor,
    representatives: Tensor,
    rep_labels: Tensor,
    alpha: float = 1.0,
    reduction: str = "mean",
) -> Tensor:
    """Seed 003's My Loss (module docstring), reduced by ``reduction`` as torch's functional
    losses are (``'none'``: per-example losses [N]).

    ``embeddings`` [N, D] with classes ``labels`` [N]; ``representatives`` [R, D] with classes
    ``rep_labels`` [R]. Representatives of classes absent from the batch take no part.
    """
    if embeddings.ndim != 2 or labels.shape != embeddings.shape[:1]:
        raise ValueError("embeddings must be [N, D] and labels [N]")
    rep_labels = rep_labels.to(labels.device)
    sq_dist = (
        embeddings.pow(2).sum(1, keepdim=True)
        + representatives.pow(2).sum(1)[None, :]
        - 2 * embeddings @ representatives.T
    ).clamp_min(0)  # [N, R]
    same = labels[:, None] == rep_labels[None, :]  # [N, R]
    present = same.any(0)  # [R]: the representative's class is in the batch
    farthest = torch.where(same, sq_dist, torch.zeros_like(sq_dist)).amax(0)  # m_j, [R]
    other = ~same & present[None, :]
    hinge = torch.relu(farthest[None, :] + alpha - sq_dist)
    count = present.sum().clamp_min(1).to(sq_dist.dtype)
    losses = torch.where(other, hinge, torch.zeros_like(hinge)).sum(1) / count
    return reduce(losses, reduction)


class MyLoss(RepresentativeLoss):
    """My Loss with ``num_classes * reps_per_class`` learnable representatives, stored class by
    class and started random, as a pytorch-metric-learning loss (`RepresentativeLoss`, the
    base it shares with `reprlab.losses.repmet.RepMetLoss`)."""

    def __init__(
        self,
        num_classes: int,
        reps_per_class: int,
        dim: int,
        alpha: float = 1.0,
        reduction: str = "mean",
        seed: int = 0,
        **kwargs,
    ) -> None:
        super().__init__(num_classes, reps_per_class, dim, reduction, seed, **kwargs)
        self.alpha = alpha

    def per_example(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Per-example losses [N]."""
        return my_loss(
            embeddings, labels, self.representatives, self.rep_labels, self.alpha, "none"
        )

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, reps_per_class={self.reps_per_class}, "
            f"dim={self.dim}, alpha={self.alpha}"
        )
