"""MNIST, Fashion-MNIST and KMNIST: 28x28 grayscale, 60 000 train / 10 000 test, IDX files.

Each data set is four files, ``{train,t10k}-{images-idx3,labels-idx1}-ubyte`` (gzip ``.gz`` or
raw), looked for in ``root``, ``$REPRLAB_DATA``, the user cache directory, torchvision's layout
under each (``MNIST/raw``, ``FashionMNIST/raw``, ``KMNIST/raw``) and, for Fashion-MNIST, Debian's
``/usr/share/datasets/fashion-mnist`` (package ``dataset-fashion-mnist``).
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import torch

from reprlab.data import locate
from reprlab.data.idx import read_idx
from reprlab.data.sources.base import Source
from reprlab.data.types import Dataset, Split
from reprlab.errors import DataError

FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte",
         "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte")  # fmt: skip

SPECS = {
    "mnist": dict(
        folder="MNIST",
        subdirs=("MNIST/raw", "MNIST", "mnist"),
        extra=(),
        classes=[str(c) for c in range(10)],
        torchvision="MNIST",
        summary="handwritten digits (LeCun et al. 1998)",
        how="",
    ),
    "fashion-mnist": dict(
        folder="FashionMNIST",
        subdirs=("FashionMNIST/raw", "FashionMNIST", "fashion-mnist"),
        extra=("/usr/share/datasets/fashion-mnist",),
        classes=[
            "T-shirt/top",
            "Trouser",
            "Pullover",
            "Dress",
            "Coat",
            "Sandal",
            "Shirt",
            "Sneaker",
            "Bag",
            "Ankle boot",
        ],
        torchvision="FashionMNIST",
        summary="Zalando's article images (Xiao et al. 2017)",
        how="install the Debian package (apt-get install dataset-fashion-mnist)",
    ),
    "kmnist": dict(
        folder="KMNIST",
        subdirs=("KMNIST/raw", "KMNIST", "kmnist"),
        extra=(),
        classes=["o", "ki", "su", "tsu", "na", "ha", "ma", "ya", "re", "wo"],
        torchvision="KMNIST",
        summary="Kuzushiji-MNIST, cursive Japanese characters (Clanuwat et al. 2018)",
        how="",
    ),
}


def _file(folder: Path, stem: str) -> Path | None:
    for name in (stem + ".gz", stem):
        if (folder / name).is_file():
            return folder / name
    return None


def _present(folder: Path) -> bool:
    return all(_file(folder, stem) for stem in FILES)


def _find(name: str, root) -> tuple[Path | None, list[Path]]:
    spec = SPECS[name]
    return locate.find(root, spec["subdirs"], _present, spec["extra"])


def locate_files(name: str, root=None) -> str | None:
    folder, _ = _find(name, root)
    return str(folder) if folder else None


def _download(name: str, root) -> None:
    import torchvision.datasets as tvd

    try:
        getattr(tvd, SPECS[name]["torchvision"])(str(locate.download_dir(root)), download=True)
    except Exception as error:  # network errors come in many types
        raise DataError(f"downloading {name!r} failed: {error}") from error


def load(name: str, root=None, download: bool = False, size: int | None = None) -> Dataset:
    folder, tried = _find(name, root)
    if folder is None and download:
        _download(name, root)
        folder, tried = _find(name, root)
    if folder is None:
        raise locate.absent(
            name,
            tried,
            "the 4 IDX files " + ", ".join(f"{f}[.gz]" for f in FILES),
            locate.download_hint(name, SPECS[name]["how"]),
        )
    splits = {}
    for split, (images_stem, labels_stem) in (("train", FILES[:2]), ("test", FILES[2:])):
        images = read_idx(_file(folder, images_stem), ndim=3)
        labels_path = _file(folder, labels_stem)
        labels = read_idx(labels_path, ndim=1)
        if len(images) != len(labels):
            raise DataError(
                f"{labels_path} has {len(labels)} labels but its images file has {len(images)}"
            )
        if len(labels) and labels.max() >= 10:
            raise DataError(f"{labels_path} holds label {labels.max()}; expected 0..9")
        splits[split] = Split(
            torch.from_numpy(images.copy()).unsqueeze(1),
            torch.from_numpy(labels.astype("int64")),
        )
    return Dataset(name, splits, list(SPECS[name]["classes"]), str(folder))


SOURCES = {
    name: Source(
        name=name,
        summary=spec["summary"],
        load=partial(load, name),
        locate=partial(locate_files, name),
        image_shape=(1, 28, 28),
        sizes=(60000, 10000),
        num_classes=10,
    )
    for name, spec in SPECS.items()
}
