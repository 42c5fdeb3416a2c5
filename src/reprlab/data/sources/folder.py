"""``folder:PATH``: images in one sub-folder per class, as torchvision's ``ImageFolder``.

``PATH/CLASS/*.png|jpg|...``; classes are the sub-folder names, sorted. When ``PATH`` holds
``train/`` and ``test/`` (each with the class sub-folders) those are the splits; otherwise a
stratified 20 % of each class is test, chosen with a fixed seed (0). Images are grayscale (1
channel) when every file is grayscale, RGB otherwise. They keep their size when all share one;
``folder:PATH@SIZE`` resizes (shorter side, then centre crop) to SIZE x SIZE, and mixed sizes
without it default to 64. Decoded images are cached (`reprlab.data.cache`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from PIL import Image

from reprlab.data.cache import cached
from reprlab.data.images import decode_all, is_image
from reprlab.data.splits import stratified_indices
from reprlab.data.types import Dataset, Split
from reprlab.errors import DataError

TEST_FRACTION = 0.2
SPLIT_SEED = 0
DEFAULT_SIZE = 64
GRAY_MODES = {"1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F"}


def _class_folders(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))


def _scan(folder: Path, classes: list[str]) -> tuple[list[Path], list[int]]:
    files, labels = [], []
    for k, name in enumerate(classes):
        if not (folder / name).is_dir():
            continue
        images = sorted(p for p in (folder / name).rglob("*") if p.is_file() and is_image(p))
        files += images
        labels += [k] * len(images)
    return files, labels


def _header(path: Path) -> tuple[str, tuple[int, int]]:
    try:
        with Image.open(path) as image:
            return image.mode, image.size
    except Exception as error:
        raise DataError(f"cannot read image {path}: {error}; delete or replace it") from None


def load(path: str, size: int | None = None) -> Dataset:
    folder = Path(path).expanduser()
    if not folder.is_dir():
        raise DataError(
            f"folder data set {str(folder)!r} does not exist; give folder:PATH with one "
            "sub-folder of images per class"
        )
    has_splits = (folder / "train").is_dir() and (folder / "test").is_dir()
    classes = [p.name for p in _class_folders(folder / "train" if has_splits else folder)]
    parts = {"train": folder / "train", "test": folder / "test"} if has_splits else {"all": folder}
    listing = {part: _scan(where, classes) for part, where in parts.items()}
    if has_splits:
        unknown = {p.name for p in _class_folders(folder / "test")} - set(classes)
        if unknown:
            raise DataError(f"{folder / 'test'} has classes absent from train: {sorted(unknown)}")
    files = [f for part_files, _ in listing.values() for f in part_files]
    if not files:
        raise DataError(f"no images in {folder}; expected {folder}/CLASS/IMAGE files")
    headers = [_header(f) for f in files]
    mode = "L" if all(m in GRAY_MODES for m, _ in headers) else "RGB"
    if size is None and len({s for _, s in headers}) > 1:
        size = DEFAULT_SIZE

    def build() -> dict:
        return {"images": decode_all(files, mode, size, description=f"decoding {folder.name}")}

    name = f"folder:{path}"
    images = cached("folder", folder, {"size": size, "mode": mode}, files, build)["images"]
    splits, start = {}, 0
    for part, (part_files, labels) in listing.items():
        stop = start + len(part_files)
        splits[part] = Split(images[start:stop], torch.tensor(labels, dtype=torch.int64))
        start = stop
    if not has_splits:
        full = splits.pop("all")
        train, test = stratified_indices(full.labels.numpy(), TEST_FRACTION, SPLIT_SEED)
        splits = {"train": full.subset(train), "test": full.subset(test)}
    if len(splits["test"]) == 0:
        raise DataError(f"{folder} gives an empty test split; add images (2 or more per class)")
    counts = np.bincount(splits["train"].labels.numpy(), minlength=len(classes))
    if (counts == 0).any():
        empty = [classes[k] for k in np.flatnonzero(counts == 0)]
        raise DataError(f"classes with no training images in {folder}: {empty}")
    return Dataset(name, splits, classes, str(folder))
