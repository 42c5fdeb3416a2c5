"""A cache of decoded image tensors, for data sets stored as many image files.

An entry is keyed by the source folder, the decoding parameters (e.g. image size) and the file
list with each file's size and modification time, so any change to the files is a miss. Entries
are ``torch.save``-d atomically under ``<cache dir>/decoded/`` and read back with
``torch.load(weights_only=True)``; an unreadable entry is rebuilt.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from collections.abc import Callable, Sequence
from pathlib import Path

import torch

from reprlab.atomic import torch_save
from reprlab.data.locate import cache_dir

FORMAT = 1


def cache_key(source: str | Path, params: dict, files: Sequence[Path]) -> str:
    """Hex digest of the source path, ``params`` and every file's (path, size, mtime)."""
    digest = hashlib.sha256()
    head = {"format": FORMAT, "source": str(Path(source).resolve()), "params": params}
    digest.update(json.dumps(head, sort_keys=True, default=str).encode())
    for file in files:
        stat = file.stat()
        digest.update(f"\n{file}\t{stat.st_size}\t{stat.st_mtime_ns}".encode())
    return digest.hexdigest()


def cache_file(name: str, key: str) -> Path:
    safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
    return cache_dir() / "decoded" / f"{safe}-{key[:24]}.pt"


def cached(
    name: str,
    source: str | Path,
    params: dict,
    files: Sequence[Path],
    build: Callable[[], dict],
) -> dict:
    """``build()`` (a dict of tensors, lists, strings), or its cached copy when still valid."""
    path = cache_file(name, cache_key(source, params, files))
    if path.is_file():
        try:
            return torch.load(path, map_location="cpu", weights_only=True)
        except Exception as error:  # a damaged entry is rebuilt, never trusted
            warnings.warn(f"rebuilding unreadable cache entry {path}: {error}", stacklevel=2)
    value = build()
    torch_save(value, path)
    return value
