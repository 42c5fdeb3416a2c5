"""Shared reading of photo collections: decode listed files at one size, cached."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from reprlab.data.cache import cached
from reprlab.data.images import decode_all
from reprlab.data.types import Split
from reprlab.errors import DataError

DEFAULT_SIZE = 64


def decode_splits(
    name: str,
    folder: Path,
    parts: dict[str, tuple[list[Path], np.ndarray]],
    size: int | None,
    crop: int | None = None,
) -> dict[str, Split]:
    """Each part's files decoded as RGB, ``size`` x ``size`` (default 64), cached as one entry."""
    size = size or DEFAULT_SIZE
    files = [f for part_files, _ in parts.values() for f in part_files]
    missing = next((f for f in files if not f.is_file()), None)
    if missing is not None:
        raise DataError(f"{name}: image {missing} is listed but absent; the download is partial")

    def build() -> dict:
        return {"images": decode_all(files, "RGB", size, crop, description=f"decoding {name}")}

    images = cached(name, folder, {"size": size, "crop": crop}, files, build)["images"]
    splits, start = {}, 0
    for part, (part_files, labels) in parts.items():
        stop = start + len(part_files)
        splits[part] = Split(images[start:stop], torch.as_tensor(labels, dtype=torch.int64))
        start = stop
    return splits
