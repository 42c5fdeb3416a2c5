"""CIFAR-10 and CIFAR-100 (Krizhevsky 2009): 32x32 RGB, 50 000 train / 10 000 test.

Reads the "python version" archives as torchvision lays them out: ``cifar-10-batches-py/``
(``data_batch_1`` .. ``data_batch_5``, ``test_batch``, ``batches.meta``) and
``cifar-100-python/`` (``train``, ``test``, ``meta``; the 100 fine labels). Each batch is a
pickled dict with ``data`` (uint8 [N, 3072], channel-major rows) and ``labels`` or
``fine_labels`` (https://www.cs.toronto.edu/~kriz/cifar.html). Pickles are read with an
unpickler that only builds numpy arrays, so a file cannot run code.
"""

from __future__ import annotations

import pickle
from functools import partial
from pathlib import Path

import numpy as np
import torch

from reprlab.data import locate
from reprlab.data.sources.base import Source
from reprlab.data.types import Dataset, Split
from reprlab.errors import DataError

SPECS = {
    "cifar10": dict(
        folder="cifar-10-batches-py",
        train=[f"data_batch_{i}" for i in range(1, 6)],
        test=["test_batch"],
        meta=("batches.meta", "label_names"),
        label_key="labels",
        classes=10,
        torchvision="CIFAR10",
        summary="32x32 photos in 10 classes (Krizhevsky 2009)",
    ),
    "cifar100": dict(
        folder="cifar-100-python",
        train=["train"],
        test=["test"],
        meta=("meta", "fine_label_names"),
        label_key="fine_labels",
        classes=100,
        torchvision="CIFAR100",
        summary="32x32 photos in 100 fine classes (Krizhevsky 2009)",
    ),
}

_ALLOWED = {
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("copyreg", "_reconstructor"),
    ("builtins", "object"),
    ("_codecs", "encode"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}


class _ArrayUnpickler(pickle.Unpickler):
    """Builds only plain containers and numpy arrays; anything else is refused."""

    def find_class(self, module: str, name: str):
        if (module, name) not in _ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name}")
        if module.startswith("numpy.core.") and hasattr(np, "_core"):  # numpy 2 moved it
            module = "numpy._core." + module.removeprefix("numpy.core.")
        return super().find_class(module, name)


def read_batch(path: Path) -> dict:
    """The dict in one CIFAR pickle, with ``str`` keys."""
    try:
        with open(path, "rb") as f:
            batch = _ArrayUnpickler(f, encoding="latin1").load()
    except Exception as error:  # pickle raises many kinds on corrupt input
        raise DataError(
            f"cannot read CIFAR batch {path}: {error}; delete it and fetch it again"
        ) from None
    if not isinstance(batch, dict):
        raise DataError(f"CIFAR batch {path} holds a {type(batch).__name__}, not a dict")
    return {k.decode("latin1") if isinstance(k, bytes) else k: v for k, v in batch.items()}


def _present(spec: dict, folder: Path) -> bool:
    return all((folder / name).is_file() for name in (*spec["train"], *spec["test"]))


def _find(name: str, root) -> tuple[Path | None, list[Path]]:
    spec = SPECS[name]
    return locate.find(root, (spec["folder"],), partial(_present, spec))


def _read_split(spec: dict, folder: Path, files: list[str]) -> Split:
    images, labels = [], []
    for file in files:
        path = folder / file
        batch = read_batch(path)
        try:
            data = np.asarray(batch["data"])
            ys = np.asarray(batch[spec["label_key"]], dtype=np.int64)
        except KeyError as error:
            raise DataError(f"CIFAR batch {path} has no {error} entry") from None
        if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072:
            raise DataError(
                f"CIFAR batch {path} data is {data.dtype} {data.shape}, expected uint8 [N, 3072]"
            )
        if len(ys) != len(data) or (len(ys) and not 0 <= ys.min() <= ys.max() < spec["classes"]):
            raise DataError(f"CIFAR batch {path} labels do not match its {len(data)} images")
        images.append(data.reshape(-1, 3, 32, 32))
        labels.append(ys)
    return Split(torch.from_numpy(np.concatenate(images)), torch.from_numpy(np.concatenate(labels)))


def _classes(spec: dict, folder: Path) -> list[str]:
    file, key = spec["meta"]
    if not (folder / file).is_file():
        return [str(c) for c in range(spec["classes"])]
    names = read_batch(folder / file).get(key)
    if names is None or len(names) != spec["classes"]:
        raise DataError(f"CIFAR meta file {folder / file} lacks {spec['classes']} {key}")
    return [n.decode() if isinstance(n, bytes) else str(n) for n in names]


def load(name: str, root=None, download: bool = False, size: int | None = None) -> Dataset:
    spec = SPECS[name]
    folder, tried = _find(name, root)
    if folder is None and download:
        import torchvision.datasets as tvd

        try:
            getattr(tvd, spec["torchvision"])(str(locate.download_dir(root)), download=True)
        except Exception as error:
            raise DataError(f"downloading {name!r} failed: {error}") from error
        folder, tried = _find(name, root)
    if folder is None:
        wanted = f"{spec['folder']}/ with " + ", ".join(spec["train"] + spec["test"])
        raise locate.absent(name, tried, wanted, locate.download_hint(name))
    splits = {"train": _read_split(spec, folder, spec["train"]),
              "test": _read_split(spec, folder, spec["test"])}  # fmt: skip
    return Dataset(name, splits, _classes(spec, folder), str(folder))


def locate_files(name: str, root=None) -> str | None:
    folder, _ = _find(name, root)
    return str(folder) if folder else None


SOURCES = {
    name: Source(
        name=name,
        summary=spec["summary"],
        load=partial(load, name),
        locate=partial(locate_files, name),
        image_shape=(3, 32, 32),
        sizes=(50000, 10000),
        num_classes=spec["classes"],
    )
    for name, spec in SPECS.items()
}
