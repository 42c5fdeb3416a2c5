"""The registry of data sets and `load_dataset`, the one entry point."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

from reprlab.data.sources.base import Source
from reprlab.data.splits import stratified_split
from reprlab.data.types import Dataset
from reprlab.errors import ConfigError
from reprlab.registry import lookup

_MODULES = {
    "digits": "digits",
    "fashion-mnist": "idx",
    "mnist": "idx",
    "kmnist": "idx",
    "cifar10": "cifar",
    "cifar100": "cifar",
    "omniglot": "omniglot",
    "flowers102": "flowers102",
    "stanford-dogs": "stanford_dogs",
    "celeba": "celeba",
}
# "folder:PATH" and "npz:PATH": the module's load(path, size=...) reads a user's files.
PREFIXES = {"folder": "folder", "npz": "npz"}

_SIZE_SUFFIX = re.compile(r"^(?P<base>.+)@(?P<size>\d+)$")


def _source(name: str) -> Source:
    module = importlib.import_module(f"reprlab.data.sources.{_MODULES[name]}")
    sources = getattr(module, "SOURCES", None) or {module.SOURCE.name: module.SOURCE}
    return sources[name]


def all_sources() -> dict[str, Source]:
    """Every named data set (not the ``folder:``/``npz:`` prefixes), in registry order."""
    return {name: _source(name) for name in _MODULES}


DATASETS = tuple(_MODULES)


def parse_name(name: str) -> tuple[str, int | None]:
    """``"flowers102@128"`` -> ``("flowers102", 128)``; no suffix -> size None."""
    match = _SIZE_SUFFIX.match(name)
    if match and not Path(name.partition(":")[2] or name).exists():
        return match["base"], int(match["size"])
    return name, None


def load_dataset(
    name: str,
    root: str | Path | None = None,
    download: bool = False,
    val_fraction: float = 0.0,
    seed: int = 0,
) -> Dataset:
    """Load data set ``name`` into memory: splits ``train``, ``test`` and, when
    ``val_fraction > 0``, ``val`` (a stratified fraction of train chosen with ``seed``).

    ``name`` is a registered name (see `DATASETS`), ``folder:PATH`` or ``npz:PATH``. Sources of
    photographs (and omniglot, folders) accept a ``@SIZE`` suffix, e.g. ``flowers102@128``, to
    store SIZE x SIZE images instead of the default. ``root`` is searched first; with
    ``download=True`` torchvision fetches what is missing (into ``root``, ``$REPRLAB_DATA`` or
    the user cache directory). The train/test split never depends on ``seed``.
    """
    if not 0.0 <= float(val_fraction) < 1.0:
        raise ConfigError(f"val_fraction must be in [0, 1), got {val_fraction}; use e.g. 0.1")
    base, size = parse_name(name)
    if size is not None and size < 1:
        raise ConfigError(f"image size in {name!r} must be positive")
    prefix, _, path = base.partition(":")
    if path and prefix in PREFIXES:
        module = importlib.import_module(f"reprlab.data.sources.{PREFIXES[prefix]}")
        dataset = module.load(path, size=size)
    else:
        if path or prefix not in _MODULES:
            lookup(dict.fromkeys([*_MODULES, "folder:PATH", "npz:PATH"]), base, "data set")
        source = _source(base)
        if size is not None and not source.resizable:
            raise ConfigError(
                f"data set {base!r} has a fixed image size {source.image_shape[1:]}; drop "
                f"'@{size}' and resize per batch with BatchLoader(size=...)"
            )
        dataset = source.load(root=root, download=download, size=size)
    if val_fraction > 0:
        train, val = stratified_split(dataset.train, float(val_fraction), seed)
        splits = {"train": train, "val": val, "test": dataset.test}
        dataset = Dataset(dataset.name, splits, dataset.classes, dataset.source)
    return dataset
