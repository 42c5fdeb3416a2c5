"""Class-balanced batches: each batch holds M examples of each of P classes (P * M = batch size).

Classes are drawn uniformly without replacement per batch; within a class, examples are taken
from a per-class permutation that is refilled when used up, so every example of a class is seen
before any repeats. A class with fewer than M examples is sampled with replacement. This is the
"PK" sampling of Hermans et al. 2017 (In Defense of the Triplet Loss) and the class-balanced
batches of Magnet/RepMet training.
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.utils.data

from reprlab.errors import ConfigError


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """A CPU `torch.Generator` whose state depends only on ``(seed, epoch)``."""
    state = np.random.SeedSequence([int(seed) & 0xFFFFFFFF, int(epoch)]).generate_state(1)[0]
    return torch.Generator().manual_seed(int(state))


class ClassBalancedSampler(torch.utils.data.Sampler[list[int]]):
    """Index batches with ``samples_per_class`` examples of each of ``batch_size / M`` classes.

    ``len(sampler)`` batches per epoch: ``ceil(N / batch_size)``, or ``N // batch_size`` (at
    least 1) with ``drop_last``; every batch is full. ``batches(generator)`` yields int64 index
    tensors drawn with that ``torch.Generator`` only.

    It is a torch batch sampler: ``DataLoader(split, batch_sampler=sampler)``. Iterating yields
    the batches (lists of ints) of epoch ``sampler.epoch``, drawn with
    ``epoch_generator(seed, epoch)``, from batch ``sampler.batch`` on; at the end of an epoch
    the epoch advances. ``state_dict()`` is ``{"seed", "epoch", "batch"}`` and
    ``load_state_dict`` resumes at exactly that batch. ``batch`` counts the batches handed
    out; a ``DataLoader`` with ``num_workers > 0`` draws up to ``prefetch_factor *
    num_workers`` batches ahead of the loop, so there save ``batch`` as the number of batches
    the loop consumed in the epoch. ``set_epoch(e)`` starts epoch ``e``, as in
    ``DistributedSampler``.
    """

    def __init__(
        self,
        labels: torch.Tensor,
        batch_size: int,
        samples_per_class: int,
        drop_last: bool = False,
        *,
        seed: int = 0,
    ) -> None:
        labels = torch.as_tensor(labels, dtype=torch.int64)
        if samples_per_class < 1 or batch_size % samples_per_class:
            raise ConfigError(
                f"batch_size {batch_size} must be a positive multiple of samples_per_class "
                f"{samples_per_class}; change one of them"
            )
        self.classes = torch.unique(labels)
        self.members = [torch.nonzero(labels == c).flatten() for c in self.classes]
        self.samples_per_class = samples_per_class
        self.classes_per_batch = batch_size // samples_per_class
        if self.classes_per_batch > len(self.classes):
            raise ConfigError(
                f"class-balanced batches of {batch_size} with {samples_per_class} per class need "
                f"{self.classes_per_batch} classes, but the split has {len(self.classes)}; "
                "use a smaller batch_size or a larger samples_per_class"
            )
        self.batch_size = batch_size
        n = len(labels)
        self.num_batches = max(1, n // batch_size) if drop_last else math.ceil(n / batch_size)
        self.seed, self.epoch, self.batch = int(seed), 0, 0

    def __len__(self) -> int:
        return self.num_batches

    def __iter__(self) -> Iterator[list[int]]:
        epoch, start = self.epoch, self.batch
        for b, rows in enumerate(self.batches(epoch_generator(self.seed, epoch))):
            if b < start:
                continue
            self.batch = b + 1
            yield rows.tolist()
        self.epoch, self.batch = epoch + 1, 0

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` at its first batch."""
        self.epoch, self.batch = int(epoch), 0

    def state_dict(self) -> dict[str, int]:
        return {"seed": self.seed, "epoch": self.epoch, "batch": self.batch}

    def load_state_dict(self, state: dict[str, int]) -> None:
        batch = int(state["batch"])
        if not 0 <= batch <= self.num_batches:
            raise ConfigError(
                f"sampler state has batch {batch}, outside 0..{self.num_batches}; "
                "load a state saved by a sampler of the same split and batch size"
            )
        self.seed, self.epoch, self.batch = int(state["seed"]), int(state["epoch"]), batch

    def batches(self, generator: torch.Generator) -> Iterator[torch.Tensor]:
        m = self.samples_per_class
        queues = [self._shuffled(k, generator) for k in range(len(self.members))]
        for _ in range(self.num_batches):
            chosen = torch.randperm(len(self.members), generator=generator)[
                : self.classes_per_batch
            ]
            parts = []
            for k in chosen.tolist():
                members = self.members[k]
                if len(members) < m:
                    picks = torch.randint(len(members), (m,), generator=generator)
                    parts.append(members[picks])
                    continue
                if len(queues[k]) < m:
                    queues[k] = torch.cat([queues[k], self._shuffled(k, generator)])
                parts.append(queues[k][:m])
                queues[k] = queues[k][m:]
            yield torch.cat(parts)

    def _shuffled(self, k: int, generator: torch.Generator) -> torch.Tensor:
        members = self.members[k]
        return members[torch.randperm(len(members), generator=generator)]
