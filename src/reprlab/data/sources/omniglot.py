"""Omniglot (Lake et al. 2015): 1 623 handwritten characters from 50 alphabets, 20 drawings each.

Read from torchvision's layout ``omniglot-py/images_background/ALPHABET/characterNN/*.png``
(964 characters) and ``omniglot-py/images_evaluation/...`` (659). Every character is a class,
named ``ALPHABET/characterNN``, background alphabets first. The split is per character and
stratified: half of each character's drawings (10 of 20) are test, chosen with a fixed seed
(0), so classifiers learn from 10 images per class, as in seed 001 ("only 10 pictures per
class, and 1 600+ classes"). Images are stored at their native 105x105 (``omniglot@SIZE``
to store them resized, e.g. ``omniglot@28``), grayscale with ink = 255 on a 0 background (the
PNGs are the reverse; inverted here to match MNIST). Decoded images are cached
(`reprlab.data.cache`).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reprlab.data import locate
from reprlab.data.cache import cached
from reprlab.data.images import decode_all, is_image
from reprlab.data.sources.base import Source
from reprlab.data.splits import stratified_indices
from reprlab.data.types import Dataset, Split
from reprlab.errors import DataError

PARTS = ("images_background", "images_evaluation")
TEST_FRACTION = 0.5  # seed 001: 10 training images per class
SPLIT_SEED = 0


def _present(folder: Path) -> bool:
    return all((folder / part).is_dir() for part in PARTS)


def _find(root):
    return locate.find(root, ("omniglot-py", "omniglot"), _present)


def _listing(folder: Path) -> tuple[list[str], list[Path], np.ndarray]:
    classes, files, labels = [], [], []
    for part in PARTS:
        for alphabet in sorted(p for p in (folder / part).iterdir() if p.is_dir()):
            for character in sorted(p for p in alphabet.iterdir() if p.is_dir()):
                drawings = sorted(p for p in character.iterdir() if is_image(p))
                if not drawings:
                    raise DataError(f"Omniglot character folder {character} has no images")
                labels += [len(classes)] * len(drawings)
                files += drawings
                classes.append(f"{alphabet.name}/{character.name}")
    if not classes:
        raise DataError(f"no Omniglot alphabets under {folder}/{{{','.join(PARTS)}}}")
    return classes, files, np.asarray(labels, dtype=np.int64)


def load(root=None, download: bool = False, size: int | None = None) -> Dataset:
    folder, tried = _find(root)
    if folder is None and download:
        from torchvision.datasets import Omniglot

        try:
            for background in (True, False):
                Omniglot(str(locate.download_dir(root)), background=background, download=True)
        except Exception as error:
            raise DataError(f"downloading 'omniglot' failed: {error}") from error
        folder, tried = _find(root)
    if folder is None:
        raise locate.absent(
            "omniglot", tried, "omniglot-py/ with " + " and ".join(PARTS),
            locate.download_hint("omniglot"),
        )  # fmt: skip
    classes, files, labels = _listing(folder)

    def build() -> dict:
        images = 255 - decode_all(files, "L", size, description="decoding Omniglot")
        return {"images": images}

    images = cached("omniglot", folder, {"size": size}, files, build)["images"]
    full = Split(images, torch.from_numpy(labels))
    train, test = stratified_indices(labels, TEST_FRACTION, SPLIT_SEED)
    splits = {"train": full.subset(train), "test": full.subset(test)}
    return Dataset("omniglot", splits, classes, str(folder))


def locate_files(root=None) -> str | None:
    folder, _ = _find(root)
    return str(folder) if folder else None


SOURCE = Source(
    name="omniglot",
    summary="1 623 handwritten characters of 50 alphabets, 20 each (Lake et al. 2015)",
    load=load,
    locate=locate_files,
    image_shape=(1, 105, 105),
    sizes=(16230, 16230),
    num_classes=1623,
    resizable=True,
)
