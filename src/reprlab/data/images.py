"""Decoding image files (PIL) into uint8 arrays, with the crops and resizes sources use.

`decode` follows torchvision's ``CenterCrop(crop)`` then ``Resize(size)`` + ``CenterCrop(size)``:
optionally a central ``crop`` x ``crop`` square, then the shorter side scaled to ``size``
(bilinear, antialiased) and a central ``size`` x ``size`` square. JPEGs are decoded at a reduced
scale (``Image.draft``) when that still leaves at least the pixels the resize needs.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

from reprlab.errors import DataError

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")


def is_image(path: Path) -> bool:
    return path.suffix.lower() in EXTENSIONS and not path.name.startswith(".")


def _centre(width: int, height: int, w: int, h: int) -> tuple[int, int, int, int]:
    left, top = (width - w) // 2, (height - h) // 2
    return left, top, left + w, top + h


def decode(path: str | Path, mode: str, size: int | None = None, crop: int | None = None):
    """uint8 array [C, H, W] of image ``path`` in PIL ``mode`` ("L" or "RGB")."""
    try:
        with Image.open(path) as image:
            original_width = image.size[0]
            if size is not None and image.format == "JPEG":
                scale = size / (crop or min(image.size))
                image.draft(mode, (math.ceil(image.size[0] * scale),
                                   math.ceil(image.size[1] * scale)))  # fmt: skip
            if crop is not None:
                c = max(1, round(crop * image.size[0] / original_width))  # after draft
                image = image.crop(_centre(*image.size, c, c))
            image = image.convert(mode)
            if size is not None:
                width, height = image.size
                short = min(width, height)
                w = max(size, round(width * size / short))
                h = max(size, round(height * size / short))
                if (w, h) != (width, height):
                    image = image.resize((w, h), Image.Resampling.BILINEAR)
                image = image.crop(_centre(w, h, size, size))
            array = np.asarray(image, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as error:
        raise DataError(f"cannot decode image {path}: {error}; delete or replace it") from None
    return array[None] if array.ndim == 2 else array.transpose(2, 0, 1)


def _progress(total: int, description: str):
    """A rich progress bar on a terminal (not under CI); otherwise a no-op context."""
    from contextlib import nullcontext

    if not sys.stdout.isatty() or os.environ.get("CI") or total < 500:
        return nullcontext(None)
    from rich.progress import Progress

    return Progress(transient=True)


def decode_all(
    paths: Sequence[Path],
    mode: str,
    size: int | None = None,
    crop: int | None = None,
    description: str = "decoding images",
) -> torch.Tensor:
    """uint8 tensor [N, C, H, W] of ``paths``; every image must come out the same shape."""
    if not paths:
        raise DataError("no images to decode")
    first = decode(paths[0], mode, size, crop)
    out = np.empty((len(paths), *first.shape), dtype=np.uint8)
    out[0] = first
    with _progress(len(paths), description) as progress:
        task = progress.add_task(description, total=len(paths)) if progress else None
        for i, path in enumerate(paths[1:], start=1):
            array = decode(path, mode, size, crop)
            if array.shape != first.shape:
                raise DataError(
                    f"image {path} is {array.shape[1:]} but {paths[0]} is {first.shape[1:]}; "
                    "give the data set an image size (NAME@SIZE) to resize them all"
                )
            out[i] = array
            if progress and i % 256 == 0:
                progress.update(task, completed=i)
    return torch.from_numpy(out)
