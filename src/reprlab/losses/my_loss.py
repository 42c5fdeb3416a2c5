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
from torch import Tensor, nn

from reprlab.losses.named import check_reduction, reduce


def my_loss(
    embeddings: Tensor,
    labels: Tensor,
    representatives: Tensor,
    rep_labels: Tensor,
    alpha: float = 1.0,
) -> tuple[Tensor, Tensor]:
    """Seed 003's My Loss (module docstring); returns ``(mean loss, per-example losses [N])``.

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
    return losses.mean(), losses


class MyLoss(nn.Module):
    """My Loss with ``num_classes * reps_per_class`` learnable representatives, stored class by
    class and started random, as `reprlab.losses.repmet.RepMetLoss` (same interface:
    ``representatives``, ``rep_labels``, `set_representatives`, `per_example`)."""

    def __init__(
        self,
        num_classes: int,
        reps_per_class: int,
        dim: int,
        alpha: float = 1.0,
        reduction: str = "mean",
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_reduction(reduction)
        self.num_classes, self.reps_per_class, self.dim = num_classes, reps_per_class, dim
        self.alpha, self.reduction = alpha, reduction
        generator = torch.Generator().manual_seed(seed)
        reps = torch.randn(num_classes * reps_per_class, dim, generator=generator)
        self.representatives = nn.Parameter(nn.functional.normalize(reps, dim=1))
        labels = torch.arange(num_classes).repeat_interleave(reps_per_class)
        self.register_buffer("rep_labels", labels, persistent=False)

    @torch.no_grad()
    def set_representatives(self, representatives: Tensor) -> None:
        """Overwrite the representatives ([num_classes * reps_per_class, dim], class by class)."""
        if representatives.shape != self.representatives.shape:
            raise ValueError(
                f"representatives must be {tuple(self.representatives.shape)}, "
                f"got {tuple(representatives.shape)}"
            )
        self.representatives.copy_(representatives)

    def per_example(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        """Per-example losses [N]."""
        return my_loss(embeddings, labels, self.representatives, self.rep_labels, self.alpha)[1]

    def forward(self, embeddings: Tensor, labels: Tensor) -> Tensor:
        return reduce(self.per_example(embeddings, labels), self.reduction)

    def extra_repr(self) -> str:
        return (
            f"num_classes={self.num_classes}, reps_per_class={self.reps_per_class}, "
            f"dim={self.dim}, alpha={self.alpha}"
        )
