"""In-memory data: a `Split` (uint8 NCHW images, int64 labels) and a `Dataset` of named splits."""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.utils.data

from reprlab.errors import DataError


@dataclass(frozen=True)
class Split(torch.utils.data.Dataset):
    """``images``: uint8 tensor [N, C, H, W]; ``labels``: int64 tensor [N] (class indices).

    A Split is also a map-style `torch.utils.data.Dataset`: ``split[i]`` is ``(image, label)``
    with ``image`` the stored uint8 [C, H, W] tensor (a copy) and ``label`` a Python int, as
    ``torchvision.io.decode_image`` and torchvision's data sets give them. ``transform`` and
    ``target_transform`` are applied to each, as in torchvision's data sets; a uint8 tensor is
    what ``torchvision.transforms.v2`` expects, so end a pipeline with
    ``v2.ToDtype(torch.float32, scale=True)`` for float images in [0, 1]. Inside reprlab,
    `reprlab.data.BatchLoader` converts whole batches at once and is much faster.
    """

    images: torch.Tensor
    labels: torch.Tensor
    transform: Callable[[torch.Tensor], Any] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )
    target_transform: Callable[[int], Any] | None = dataclasses.field(
        default=None, compare=False, repr=False
    )

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

    def __getitem__(self, index: int) -> tuple[Any, Any]:
        """``(transform(image), target_transform(label))`` of example ``index``."""
        try:
            i = operator.index(index)
        except TypeError:
            raise TypeError(
                f"a Split is indexed by one integer, got {type(index).__name__}; "
                "use split.subset(indices) for several"
            ) from None
        image, label = self.images[i].clone(), int(self.labels[i])
        if self.transform is not None:
            image = self.transform(image)
        if self.target_transform is not None:
            label = self.target_transform(label)
        return image, label

    def with_transform(
        self,
        transform: Callable[[torch.Tensor], Any] | None = None,
        target_transform: Callable[[int], Any] | None = None,
    ) -> Split:
        """The same examples (not copied) with these transforms."""
        return dataclasses.replace(self, transform=transform, target_transform=target_transform)

    def subset(self, indices: Sequence[int] | np.ndarray | torch.Tensor) -> Split:
        """The examples at ``indices`` (in that order), copied; the transforms are kept."""
        rows = torch.as_tensor(np.asarray(indices), dtype=torch.int64)
        return Split(
            self.images[rows].contiguous(),
            self.labels[rows].contiguous(),
            self.transform,
            self.target_transform,
        )

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
