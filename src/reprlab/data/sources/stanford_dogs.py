"""Stanford Dogs (Khosla et al. 2011): 20 580 photos of 120 dog breeds from ImageNet.

The official archives (http://vision.stanford.edu/aditya86/ImageNetDogs/) unpacked into
``stanford-dogs/`` (or ``StanfordDogs/``): ``Images/WNID-Breed/*.jpg`` and ``train_list.mat`` /
``test_list.mat`` (``file_list``: paths under ``Images/``; ``labels``: 1..120). Train 12 000
(100 per breed), test 8 580. Classes are the breed names (the folder names without the WordNet
id). Photos are stored RGB at 64x64 (shorter side resized, centre crop); ``stanford-dogs@SIZE``
stores SIZE x SIZE. torchvision has no Stanford Dogs class; ``download=True`` fetches the
archives with ``torchvision.datasets.utils.download_and_extract_archive``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reprlab.data import locate
from reprlab.data.sources.base import Source
from reprlab.data.sources.photos import DEFAULT_SIZE, decode_splits
from reprlab.data.types import Dataset
from reprlab.errors import DataError

URL = "http://vision.stanford.edu/aditya86/ImageNetDogs/"
ARCHIVES = ("images.tar", "lists.tar")
LISTS = ("train_list.mat", "test_list.mat")


def _present(folder: Path) -> bool:
    return (folder / "Images").is_dir() and all((folder / f).is_file() for f in LISTS)


def _find(root):
    return locate.find(root, ("stanford-dogs", "StanfordDogs", "stanford_dogs"), _present)


def _read_list(path: Path) -> tuple[list[str], np.ndarray]:
    from scipy.io import loadmat

    try:
        mat = loadmat(path, squeeze_me=True)
        files = [str(np.asarray(f).reshape(-1)[0]) for f in np.atleast_1d(mat["file_list"])]
        labels = np.asarray(mat["labels"], dtype=np.int64).reshape(-1) - 1
    except KeyError as error:
        raise DataError(f"{path} has no {error} array; fetch lists.tar again") from None
    except Exception as error:
        raise DataError(f"cannot read {path}: {error}; fetch lists.tar again") from None
    if len(files) != len(labels) or (len(labels) and (labels.min() < 0 or labels.max() > 119)):
        raise DataError(f"{path}: file_list and labels (1..120) do not match")
    return files, labels


def load(root=None, download: bool = False, size: int | None = None) -> Dataset:
    folder, tried = _find(root)
    if folder is None and download:
        from torchvision.datasets.utils import download_and_extract_archive

        target = locate.download_dir(root) / "stanford-dogs"
        try:
            for archive in ARCHIVES:
                download_and_extract_archive(URL + archive, str(target))
        except Exception as error:
            raise DataError(f"downloading 'stanford-dogs' failed: {error}") from error
        folder, tried = _find(root)
    if folder is None:
        wanted = "stanford-dogs/ with Images/, " + ", ".join(LISTS)
        raise locate.absent("stanford-dogs", tried, wanted, locate.download_hint("stanford-dogs"))
    lists = {split: _read_list(folder / f"{split}_list.mat") for split in ("train", "test")}
    breeds: dict[int, str] = {}
    for files, labels in lists.values():
        for file, label in zip(files, labels):
            breeds.setdefault(int(label), file.split("/")[0].partition("-")[2] or file)
    classes = [breeds.get(k, str(k)) for k in range(120)]
    parts = {split: ([folder / "Images" / f for f in files], labels)
             for split, (files, labels) in lists.items()}  # fmt: skip
    splits = decode_splits("stanford-dogs", folder, parts, size)
    return Dataset("stanford-dogs", splits, classes, str(folder))


def locate_files(root=None) -> str | None:
    folder, _ = _find(root)
    return str(folder) if folder else None


SOURCE = Source(
    name="stanford-dogs",
    summary="120 dog breeds, 64x64 RGB (Khosla et al. 2011)",
    load=load,
    locate=locate_files,
    image_shape=(3, DEFAULT_SIZE, DEFAULT_SIZE),
    sizes=(12000, 8580),
    num_classes=120,
    resizable=True,
)
