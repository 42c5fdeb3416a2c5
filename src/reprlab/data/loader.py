"""`BatchLoader`: seeded, per-batch conversion of an in-memory uint8 split to float batches.

Indexing then converting one batch at a time keeps memory at the uint8 size and is much faster
than a per-sample ``Dataset``/``DataLoader`` pipeline (see ``benchmarks/bench_batches.py``).
"""

from __future__ import annotations

import math
from collections.abc import Iterator

import torch
import torch.nn.functional as F

from reprlab.data.sampler import ClassBalancedSampler, epoch_generator
from reprlab.data.types import Split
from reprlab.errors import ConfigError

__all__ = ["BatchLoader", "epoch_generator", "fits_on_device"]

#: the share of a GPU's free memory a resident data set may take
DEVICE_SHARE = 0.5


def fits_on_device(split: Split, device: str | torch.device, share: float = DEVICE_SHARE) -> bool:
    """Whether ``split``'s uint8 images and labels take at most ``share`` of ``device``'s free
    memory (always on the CPU, where they already are; never on other accelerators)."""
    device = torch.device(device)
    if device.type == "cpu":
        return True
    if device.type != "cuda":
        return False
    free, _ = torch.cuda.mem_get_info(device)
    return split.images.nbytes + split.labels.nbytes <= share * free


def _pair(size: int | tuple[int, int] | None) -> tuple[int, int] | None:
    if size is None:
        return None
    h, w = (size, size) if isinstance(size, int) else tuple(size)
    if h < 1 or w < 1:
        raise ConfigError(f"image size must be positive, got {size}")
    return int(h), int(w)


class BatchLoader:
    """Batches ``(x, y)`` of a `Split`: ``x`` float32 in [0, 1] on ``device``, ``y`` int64.

    ``epoch(e)`` yields the batches of epoch ``e`` in an order that depends only on
    ``(seed, e)``; ``iter(loader)`` walks epochs from ``loader.next_epoch`` on, forever.
    Per batch: index the uint8 images, move them to ``device``, divide by 255, then optionally
    zero-pad centrally to ``pad_to`` (e.g. 28 -> 32), resize to ``size`` (bilinear,
    antialiased when shrinking) and ``flatten`` to [B, C*H*W]. With ``samples_per_class`` M,
    batches are class balanced (`ClassBalancedSampler`; ``batch_size`` a multiple of M).

    With ``resident`` (the default when `fits_on_device`), the whole uint8 split is copied to
    ``device`` once and each epoch's indices once per epoch, so batches are gathered on the
    device with no host-to-device copy per step. ``channels_last`` yields image batches in
    that memory format (faster convolutions on a GPU).
    """

    def __init__(
        self,
        split: Split,
        batch_size: int,
        *,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
        size: int | tuple[int, int] | None = None,
        pad_to: int | tuple[int, int] | None = None,
        flatten: bool = False,
        device: str | torch.device = "cpu",
        samples_per_class: int | None = None,
        resident: bool | None = None,
        channels_last: bool = False,
    ) -> None:
        if batch_size < 1:
            raise ConfigError(f"batch_size must be positive, got {batch_size}")
        if len(split) == 0:
            raise ConfigError("cannot batch an empty split")
        self.split, self.batch_size, self.shuffle = split, int(batch_size), shuffle
        self.seed, self.drop_last, self.flatten = int(seed), drop_last, flatten
        self.size, self.pad_to = _pair(size), _pair(pad_to)
        self.device = torch.device(device)
        height, width = split.images.shape[2:]
        if self.pad_to and (self.pad_to[0] < height or self.pad_to[1] < width):
            raise ConfigError(
                f"pad_to {self.pad_to} is smaller than the images ({height}, {width}); "
                "use size= to shrink them"
            )
        self.sampler = (
            ClassBalancedSampler(split.labels, self.batch_size, samples_per_class, drop_last)
            if samples_per_class
            else None
        )
        self.next_epoch = 0
        self.resident = fits_on_device(split, self.device) if resident is None else bool(resident)
        self.channels_last = bool(channels_last)
        self._on_device: tuple[torch.Tensor, torch.Tensor] | None = None

    def _data(self) -> tuple[torch.Tensor, torch.Tensor]:
        """The split's images and labels: on ``device`` when resident (copied once)."""
        if not self.resident:
            return self.split.images, self.split.labels
        if self._on_device is None:  # no copy on the CPU
            self._on_device = (
                self.split.images.to(self.device),
                self.split.labels.to(self.device),
            )
        return self._on_device

    def __len__(self) -> int:
        if self.sampler is not None:
            return len(self.sampler)
        n = len(self.split)
        return n // self.batch_size if self.drop_last else math.ceil(n / self.batch_size)

    @property
    def output_shape(self) -> tuple[int, ...]:
        """Shape of one example in ``x``: (C, H, W), or (C*H*W,) with ``flatten``."""
        c, h, w = self.split.images.shape[1:]
        h, w = self.pad_to or (h, w)
        h, w = self.size or (h, w)
        return (c * h * w,) if self.flatten else (c, h, w)

    def indices(self, epoch: int) -> Iterator[torch.Tensor]:
        """The example indices of each batch of ``epoch``."""
        generator = epoch_generator(self.seed, epoch)
        if self.sampler is not None:
            yield from self.sampler.batches(generator)
            return
        n = len(self.split)
        order = torch.randperm(n, generator=generator) if self.shuffle else torch.arange(n)
        for b in range(len(self)):
            yield order[b * self.batch_size : (b + 1) * self.batch_size]

    def epoch(self, epoch: int) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        """The batches of ``epoch``."""
        images, labels = self._data()
        batches = list(self.indices(epoch))
        if self.resident and batches:  # one index copy per epoch, not one per step
            sizes = [len(rows) for rows in batches]
            batches = torch.cat(batches).to(images.device).split(sizes)
        for rows in batches:
            yield self.transform(images[rows]), labels[rows].to(self.device, non_blocking=True)

    def transform(self, images: torch.Tensor) -> torch.Tensor:
        """uint8 [B, C, H, W] -> the float batch this loader yields."""
        x = images.to(self.device, non_blocking=True).float().div_(255.0)
        if self.pad_to:
            dh, dw = self.pad_to[0] - x.shape[2], self.pad_to[1] - x.shape[3]
            x = F.pad(x, (dw // 2, dw - dw // 2, dh // 2, dh - dh // 2))
        if self.size and self.size != tuple(x.shape[2:]):
            shrink = self.size[0] < x.shape[2] or self.size[1] < x.shape[3]
            x = F.interpolate(
                x, size=self.size, mode="bilinear", align_corners=False, antialias=shrink
            ).clamp_(0.0, 1.0)
        if self.flatten:
            return x.flatten(1)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    def __iter__(self) -> Iterator[tuple[torch.Tensor, torch.Tensor]]:
        while True:
            e = self.next_epoch
            yield from self.epoch(e)
            self.next_epoch = e + 1

    def state_dict(self) -> dict:
        """``{"seed", "epoch"}``: all a resumed loader needs (the order is a function of them)."""
        return {"seed": self.seed, "epoch": self.next_epoch}

    def load_state_dict(self, state: dict) -> None:
        self.seed, self.next_epoch = int(state["seed"]), int(state["epoch"])
