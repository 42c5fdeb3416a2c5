"""Magnet batches (Rippel et al. 2016, section 3.3, "Training procedure").

A batch holds M clusters with D examples each: a seed cluster drawn with probability
proportional to its recent mean loss (uniformly until losses exist), then the M - 1 clusters of
other classes whose centres are nearest to the seed's. A cluster with fewer than D members is
sampled with replacement. Cluster ids are integers, so the seed can never be its own impostor.
"""

import math
from collections.abc import Iterator

import numpy as np
import torch
import torch.utils.data
from torch import Tensor

from reprlab.data.device import resolve_device
from reprlab.data.loader import fits_on_device
from reprlab.metric_learning.clusters import ClusterIndex


class MagnetBatchSampler(torch.utils.data.Sampler[list[int]]):
    """Draws Magnet batches of example indices from a `ClusterIndex`.

    ``record(indices, losses)`` stores each example's latest loss; a cluster's loss is the mean
    over its members that have one. Clusters not yet seen get the mean of those seen, so they
    stay eligible. Set ``index`` again after a refresh; recorded losses are kept.

    It is a torch batch sampler: ``DataLoader(split, batch_sampler=sampler)`` yields the batches
    of epoch ``sampler.epoch``, ``steps_per_epoch`` of them (default: as many as cover the
    examples once), drawn with ``numpy.random.default_rng([seed, epoch])`` as
    `MagnetBatchLoader` draws them; ``clusters_of(indices)`` gives a batch's cluster ids for
    `reprlab.losses.MagnetLoss`. ``state_dict()`` holds the index, the recorded losses, the
    epoch, the batches handed out in it and the generator's state, so ``load_state_dict``
    resumes at exactly the next batch. A ``DataLoader`` with ``num_workers > 0`` draws batches
    ahead of the loop, so their seed clusters use slightly older losses than a loop that draws
    each batch when it needs it.
    """

    def __init__(
        self,
        index: ClusterIndex,
        m: int,
        d: int,
        *,
        seed: int = 0,
        steps_per_epoch: int | None = None,
    ) -> None:
        if m < 1 or d < 1:
            raise ValueError(f"M and D must be at least 1, got M={m}, D={d}")
        self.m, self.d = m, d
        self.example_losses = np.full(len(index.assignments), np.nan)
        self.index = index
        n = len(index.assignments)
        self.steps_per_epoch = steps_per_epoch or max(1, math.ceil(n / (m * d)))
        self.seed, self.epoch, self.batch = int(seed), 0, 0
        self._rng: np.random.Generator | None = None

    def __len__(self) -> int:
        return self.steps_per_epoch

    def __iter__(self) -> Iterator[list[int]]:
        if self._rng is None or self.batch == 0:
            self._rng = np.random.default_rng([self.seed, self.epoch])
        while self.batch < self.steps_per_epoch:
            indices, _ = self.sample(self._rng)
            self.batch += 1
            yield indices.tolist()
        self.epoch, self.batch, self._rng = self.epoch + 1, 0, None

    def set_epoch(self, epoch: int) -> None:
        """Start epoch ``epoch`` at its first batch."""
        self.epoch, self.batch, self._rng = int(epoch), 0, None

    def clusters_of(self, indices) -> Tensor:
        """The cluster id of each example in ``indices`` (int64, like ``indices``)."""
        return self._index.assignments[torch.as_tensor(indices, dtype=torch.int64).cpu()]

    @property
    def index(self) -> ClusterIndex:
        return self._index

    @index.setter
    def index(self, index: ClusterIndex) -> None:
        if len(index.assignments) != len(self.example_losses):
            raise ValueError("the cluster index must cover the same training examples")
        self._index = index
        self._assign = index.assignments.numpy()
        self._labels = index.labels.numpy()
        self._sizes = index.sizes()
        self._members = [np.flatnonzero(self._assign == c) for c in range(index.num_clusters)]
        centers = index.centers.double()
        self._center_dist = torch.cdist(centers, centers).numpy()

    def record(self, indices: Tensor | np.ndarray, losses: Tensor | np.ndarray) -> None:
        """Remember the latest loss of each example in ``indices`` (the last one wins)."""
        indices = np.asarray(torch.as_tensor(indices).cpu(), dtype=np.int64)
        values = np.asarray(torch.as_tensor(losses).detach().cpu(), dtype=np.float64)
        self.example_losses[indices] = values

    def cluster_losses(self) -> np.ndarray:
        """Mean recorded loss of each cluster; NaN where none of its members has one."""
        seen = ~np.isnan(self.example_losses)
        m = self._index.num_clusters
        total = np.bincount(self._assign[seen], self.example_losses[seen], minlength=m)
        count = np.bincount(self._assign[seen], minlength=m)
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan)

    def seed_probabilities(self) -> np.ndarray:
        """Probability of each cluster being the seed: proportional to its loss, else uniform."""
        nonempty = self._sizes > 0
        losses = self.cluster_losses()
        known = ~np.isnan(losses) & nonempty
        weights = nonempty.astype(np.float64)
        if known.any() and losses[known].sum() > 0:
            weights = np.where(known, losses, losses[known].mean()) * nonempty
        if weights.sum() <= 0:
            weights = nonempty.astype(np.float64)
        return weights / weights.sum()

    def impostors(self, seed_cluster: int) -> np.ndarray:
        """The (up to) M - 1 non-empty clusters of other classes nearest to ``seed_cluster``."""
        candidates = np.flatnonzero(
            (self._labels != self._labels[seed_cluster]) & (self._sizes > 0)
        )
        order = np.argsort(self._center_dist[seed_cluster, candidates], kind="stable")
        return candidates[order[: self.m - 1]]

    def sample(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """One batch: ``(example indices [B], cluster ids [B])``, D consecutive per cluster."""
        seed_cluster = int(rng.choice(self._index.num_clusters, p=self.seed_probabilities()))
        chosen = np.concatenate([[seed_cluster], self.impostors(seed_cluster)]).astype(np.int64)
        indices = []
        for c in chosen:
            members = self._members[c]
            indices.append(rng.choice(members, self.d, replace=len(members) < self.d))
        return np.concatenate(indices), np.repeat(chosen, self.d)

    def state_dict(self) -> dict:
        """The index, the recorded losses and the position in the epoch (tensors and plain
        Python values: loadable with ``weights_only``)."""
        return {
            "index": self._index.state_dict(),
            "example_losses": torch.from_numpy(self.example_losses.copy()),
            "seed": self.seed,
            "epoch": self.epoch,
            "batch": self.batch,
            "rng": None if self._rng is None else self._rng.bit_generator.state,
        }

    def load_state_dict(self, state: dict) -> None:
        """Restores `state_dict`; a state without a position (an older one) keeps this one's."""
        losses = state["example_losses"]
        losses = losses.numpy() if isinstance(losses, Tensor) else losses
        self.example_losses = np.array(losses, dtype=np.float64)
        self.index = ClusterIndex.from_state_dict(state["index"])
        self.seed = int(state.get("seed", self.seed))
        self.epoch, self.batch = int(state.get("epoch", self.epoch)), int(state.get("batch", 0))
        self._rng = None
        if state.get("rng") is not None:
            self._rng = np.random.default_rng()
            self._rng.bit_generator.state = state["rng"]


class MagnetBatchLoader:
    """Training batches of Magnet loss over a split: ``epoch(e)`` yields ``(x, y, clusters)``.

    ``x`` float32 in [0, 1], ``y`` int64 labels, ``clusters`` int64 cluster ids, all on
    ``device``. An epoch has ``steps_per_epoch`` batches (default: as many as cover the split
    once); its random draws depend only on ``(seed, e)`` and the recorded losses.
    ``last_indices`` holds the example indices of the batch just yielded, for
    `MagnetBatchSampler.record`. When the uint8 split fits on ``device``
    (`reprlab.data.loader.fits_on_device`) it is copied there once and batches are gathered
    there.
    """

    def __init__(
        self,
        split,
        sampler: MagnetBatchSampler,
        seed: int = 0,
        steps_per_epoch: int | None = None,
        device: str | torch.device = "cpu",
    ) -> None:
        self.split, self.sampler, self.seed = split, sampler, seed
        self.device = resolve_device(device)
        self._data: tuple[Tensor, Tensor] | None = None
        batch = sampler.m * sampler.d
        self.steps_per_epoch = steps_per_epoch or max(1, math.ceil(len(split.labels) / batch))
        self.last_indices: np.ndarray | None = None

    def __len__(self) -> int:
        return self.steps_per_epoch

    def epoch(self, e: int):
        rng = np.random.default_rng([self.seed, e])
        for _ in range(self.steps_per_epoch):
            indices, clusters = self.sampler.sample(rng)
            self.last_indices = indices
            images, labels = self._split_data()
            rows = torch.from_numpy(indices).to(images.device)
            x = images[rows].to(self.device, torch.float32) / 255.0
            y = labels[rows].to(self.device)
            yield x, y, torch.from_numpy(clusters).to(self.device)

    def _split_data(self) -> tuple[Tensor, Tensor]:
        """The split's images and labels, on ``device`` when they fit (copied once)."""
        if self._data is None:
            resident = fits_on_device(self.split, self.device)
            on = self.device if resident else self.split.images.device
            self._data = (self.split.images.to(on), self.split.labels.to(on))
        return self._data

    def __iter__(self):
        e = 0
        while True:
            yield from self.epoch(e)
            e += 1

    def state_dict(self) -> dict:
        return {"sampler": self.sampler.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        self.sampler.load_state_dict(state["sampler"])
