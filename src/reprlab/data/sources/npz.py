"""``npz:PATH``: a numpy ``.npz`` archive of images and labels.

Accepted arrays: ``images`` and ``labels`` (a stratified 20 % of each class becomes test, fixed
seed 0), or ``train_images``, ``train_labels``, ``test_images``, ``test_labels``; optionally
``classes`` (names, one per label). Images must be uint8, in one of the layouts NCHW or NHWC
with 1, 3 or 4 channels, or NHW (grayscale); a shape that fits both NCHW and NHWC (e.g. 3x3
images with 3 channels) is refused. Labels are integers; their distinct values, sorted, become
classes 0..K-1.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from reprlab.data.splits import stratified_indices
from reprlab.data.types import Dataset, Split
from reprlab.errors import ConfigError, DataError

TEST_FRACTION = 0.2
SPLIT_SEED = 0
CHANNELS = (1, 3, 4)


def to_nchw(images: np.ndarray, path: str) -> np.ndarray:
    """uint8 images as NCHW, from NCHW, NHWC or NHW."""
    if images.dtype != np.uint8:
        raise DataError(
            f"{path}: images are {images.dtype}, expected uint8 0..255; convert floats in [0, 1] "
            "with (x * 255).round().astype(np.uint8)"
        )
    if images.ndim in (3, 4) and 0 in images.shape[1:]:
        raise DataError(
            f"{path}: images of shape {images.shape} have a zero height, width or channel count; "
            "store images of at least 1x1 pixel"
        )
    if images.ndim == 3:
        return images[:, None]
    if images.ndim == 4:
        nchw, nhwc = images.shape[1] in CHANNELS, images.shape[3] in CHANNELS
        if nchw and not nhwc:
            return images
        if nhwc and not nchw:
            return images.transpose(0, 3, 1, 2)
        kind = "ambiguous (NCHW or NHWC?)" if nchw else "not NCHW/NHWC with 1, 3 or 4 channels"
        raise DataError(f"{path}: images of shape {images.shape} are {kind}; store them as NCHW")
    raise DataError(f"{path}: images have shape {images.shape}; expected NCHW, NHWC or NHW")


def classes_of(values: np.ndarray, arrays: dict) -> list[str]:
    """Class names: the ``classes`` array when there is one (and it fits), else the labels."""
    names = [str(c) for c in np.asarray(arrays.get("classes", [])).tolist()]
    return names if len(names) == len(values) else [str(v) for v in values]


def check_splittable(labels: np.ndarray, names: list[str], path: str) -> None:
    """Each class needs 2 examples or more, one for train and one for test."""
    counts = np.bincount(labels, minlength=len(names))
    few = [f"{names[c]} ({counts[c]})" for c in np.flatnonzero(counts < 2)]
    if few:
        shown = ", ".join(few[:5]) + (f" and {len(few) - 5} more" if len(few) > 5 else "")
        raise DataError(
            f"{path} is too small to split into train and test: classes {shown} have fewer "
            "than 2 examples; add examples or store train_* and test_* arrays yourself"
        )


def load(path: str, size: int | None = None) -> Dataset:
    if size is not None:
        raise ConfigError("npz data sets keep their stored size; resize with BatchLoader(size=)")
    file = Path(path).expanduser()
    if not file.is_file():
        raise DataError(f"npz data set {str(file)!r} does not exist; give npz:PATH to a .npz")
    try:
        with np.load(file, allow_pickle=False) as archive:
            arrays = {key: archive[key] for key in archive.files}
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as error:
        raise DataError(f"cannot read npz file {file}: {error}") from None
    if {"images", "labels"} <= arrays.keys():
        parts = {"all": ("images", "labels")}
    elif {"train_images", "train_labels", "test_images", "test_labels"} <= arrays.keys():
        parts = {s: (f"{s}_images", f"{s}_labels") for s in ("train", "test")}
    else:
        raise DataError(
            f"{file} has arrays {sorted(arrays)}; expected images and labels, or train_images, "
            "train_labels, test_images and test_labels"
        )
    raw_labels = [np.asarray(arrays[y]) for _, y in parts.values()]
    for (_, y), labels in zip(parts.values(), raw_labels):
        if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer):
            raise DataError(f"{file}: {y} must be a 1-D integer array, got {labels.dtype}")
    values = np.unique(np.concatenate(raw_labels))
    splits = {}
    for (part, (x, y)), labels in zip(parts.items(), raw_labels):
        images = to_nchw(arrays[x], str(file))
        if len(images) != len(labels):
            raise DataError(f"{file}: {len(images)} {x} but {len(labels)} {y}")
        index = np.searchsorted(values, labels).astype(np.int64)
        splits[part] = Split(torch.from_numpy(np.ascontiguousarray(images)),
                             torch.from_numpy(index))  # fmt: skip
    if "all" in splits:
        full = splits.pop("all")
        check_splittable(full.labels.numpy(), classes_of(values, arrays), str(file))
        train, test = stratified_indices(full.labels.numpy(), TEST_FRACTION, SPLIT_SEED)
        splits = {"train": full.subset(train), "test": full.subset(test)}
    if splits["train"].images.shape[1:] != splits["test"].images.shape[1:]:
        raise DataError(f"{file}: train and test images differ in shape")
    classes = [str(v) for v in values]
    if "classes" in arrays:
        names = [str(c) for c in np.asarray(arrays["classes"]).tolist()]
        if len(names) != len(values):
            raise DataError(f"{file}: {len(names)} class names for {len(values)} labels")
        classes = names
    return Dataset(f"npz:{path}", splits, classes, str(file))
