"""CelebA aligned faces (Liu et al. 2015): 202 599 photos, 178x218, of 10 177 celebrities.

torchvision's layout: ``celeba/img_align_celeba/NNNNNN.jpg``, ``list_eval_partition.txt``
(``file partition``, 0 train, 1 validation, 2 test) and ``list_attr_celeba.txt`` (40 attributes,
+1/-1). As in the general-loss paper's VAE experiment (Barron 2019, after Larsen et al.) each
face is centre-cropped to 160x160 and resized to 64x64 RGB (``celeba@SIZE`` for SIZE x SIZE).
``train`` is partitions 0 and 1 (182 637), ``test`` partition 2 (19 962). CelebA has no
classes of its own: labels are the ``Male`` attribute (classes ``female``, ``male``), so that
probes and class-balanced batches have something to work with.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reprlab.data import locate
from reprlab.data.sources.base import Source
from reprlab.data.sources.photos import decode_splits
from reprlab.data.types import Dataset
from reprlab.errors import DataError

CROP = 160
SIZE = 64
FILES = ("list_eval_partition.txt", "list_attr_celeba.txt")
ATTRIBUTE = "Male"


def _present(folder: Path) -> bool:
    return (folder / "img_align_celeba").is_dir() and all((folder / f).is_file() for f in FILES)


def _find(root):
    return locate.find(root, ("celeba", "CelebA"), _present)


def _read_partition(path: Path) -> dict[str, int]:
    try:
        rows = [line.split() for line in path.read_text().splitlines() if line.strip()]
        return {name: int(part) for name, part in rows}
    except (ValueError, OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read {path}: {error}; fetch it again") from None


def _read_attribute(path: Path, attribute: str) -> dict[str, int]:
    try:
        lines = path.read_text().splitlines()
        column = lines[1].split().index(attribute)
        values = {}
        for line in lines[2:]:
            fields = line.split()
            if fields:
                values[fields[0]] = int(fields[1 + column] == "1")
        return values
    except (ValueError, IndexError, OSError, UnicodeDecodeError) as error:
        raise DataError(f"cannot read attribute {attribute} from {path}: {error}") from None


def load(root=None, download: bool = False, size: int | None = None) -> Dataset:
    folder, tried = _find(root)
    if folder is None and download:
        from torchvision.datasets import CelebA

        try:
            CelebA(str(locate.download_dir(root)), split="all", download=True)
        except Exception as error:
            raise DataError(f"downloading 'celeba' failed: {error}") from error
        folder, tried = _find(root)
    if folder is None:
        wanted = "celeba/ with img_align_celeba/, " + ", ".join(FILES)
        raise locate.absent("celeba", tried, wanted, locate.download_hint("celeba"))
    partition = _read_partition(folder / FILES[0])
    male = _read_attribute(folder / FILES[1], ATTRIBUTE)
    missing = set(partition) - set(male)
    if missing:
        raise DataError(f"{folder / FILES[1]} lacks {len(missing)} images of {FILES[0]}")
    names = sorted(partition)
    parts = {}
    for split, keep in (("train", (0, 1)), ("test", (2,))):
        chosen = [n for n in names if partition[n] in keep]
        labels = np.array([male[n] for n in chosen], dtype=np.int64)
        parts[split] = ([folder / "img_align_celeba" / n for n in chosen], labels)
    splits = decode_splits("celeba", folder, parts, size or SIZE, crop=CROP)
    return Dataset("celeba", splits, ["female", "male"], str(folder))


def locate_files(root=None) -> str | None:
    folder, _ = _find(root)
    return str(folder) if folder else None


SOURCE = Source(
    name="celeba",
    summary="aligned celebrity faces, crop 160, 64x64 RGB; labels: Male (Liu et al. 2015)",
    load=load,
    locate=locate_files,
    image_shape=(3, SIZE, SIZE),
    sizes=(182637, 19962),
    num_classes=2,
    resizable=True,
)
