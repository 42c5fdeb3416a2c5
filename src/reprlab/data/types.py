"""In-memory data: a `Split` (uint8 NCHW images, int64 labels) and a `Dataset` of named splits."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch

from reprlab.errors import DataError


@dataclass(frozen=True)
class Split:
    """``images``: uint8 tensor [N, C, H, W]; ``labels``: int64 tensor [N] (class indices)."""

    images: torch.Tensor
    labels: torch.Tensor

    def __post_init__(self) -> None:
        images, labels = self.images, self.labels
        if images.dtype != torch.uint8 or images.dim() != 4:
            raise ValueError(
                f"Split images must be uint8 [N, C, H, W], got {images.dtype} {tuple(images.shape)}"
            )
        if labels.dtype != torch.int64 or labels.dim() != 1:
            raise ValueError(f"Split labels must be int64 [N], got {labels.dtype} {labels.shape}")
        if len(images) != len(labels):
            raise ValueError(f"Split has {len(images)} images but {len(labels)} labels")

    def __len__(self) -> int:
        return len(self.labels)

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> Split:
        """The examples at ``indices`` (in that order), copied."""
        rows = torch.as_tensor(np.asarray(indices), dtype=torch.int64)
        return Split(self.images[rows].contiguous(), self.labels[rows].contiguous())

    def class_counts(self, num_classes: int | None = None) -> torch.Tensor:
        """Examples per class, int64 [num_classes]."""
        return torch.bincount(self.labels, minlength=num_classes or 0)


@dataclass(frozen=True)
class Dataset:
    """Named splits of one data set, the class names, and where it was read from."""

    name: str
    splits: dict[str, Split]
    classes: list[str]
    source: str

    def __getitem__(self, split: str) -> Split:
        try:
            return self.splits[split]
        except KeyError:
            have = ", ".join(self.splits)
            hint = " (pass val_fraction > 0 to load_dataset)" if split == "val" else ""
            raise DataError(
                f"data set {self.name!r} has no {split!r} split; it has: {have}{hint}"
            ) from None

    def __contains__(self, split: str) -> bool:
        return split in self.splits

    @property
    def train(self) -> Split:
        return self["train"]

    @property
    def test(self) -> Split:
        return self["test"]

    @property
    def val(self) -> Split:
        return self["val"]

    @property
    def image_shape(self) -> tuple[int, int, int]:
        """(C, H, W) of every image."""
        return tuple(next(iter(self.splits.values())).images.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    def __repr__(self) -> str:
        sizes = ", ".join(f"{k}={len(v)}" for k, v in self.splits.items())
        return (
            f"Dataset({self.name!r}, {sizes}, image_shape={self.image_shape}, "
            f"classes={self.num_classes}, source={self.source!r})"
        )
