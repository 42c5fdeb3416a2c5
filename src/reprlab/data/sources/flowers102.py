"""Oxford Flowers 102 (Nilsback & Zisserman 2008): 8 189 photos of 102 flower species.

torchvision's layout: ``flowers-102/jpg/image_NNNNN.jpg``, ``imagelabels.mat`` (``labels``,
1..102) and ``setid.mat`` (``trnid``, ``valid``, ``tstid``; 1-based image numbers)
(https://www.robots.ox.ac.uk/~vgg/data/flowers/102/). ``train`` is the official train and
validation sets together (2 040, 20 per class; carve a validation split with ``val_fraction``),
``test`` the official test set (6 149). Photos are stored RGB at 64x64 (shorter side resized,
centre crop); ``flowers102@SIZE`` stores SIZE x SIZE.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from reprlab.data import locate
from reprlab.data.sources.base import Source
from reprlab.data.sources.photos import DEFAULT_SIZE, decode_splits
from reprlab.data.types import Dataset
from reprlab.errors import DataError

FILES = ("imagelabels.mat", "setid.mat")
CLASSES = [  # the species names, in label order (as torchvision lists them)
    "pink primrose",
    "hard-leaved pocket orchid",
    "canterbury bells",
    "sweet pea",
    "english marigold",
    "tiger lily",
    "moon orchid",
    "bird of paradise",
    "monkshood",
    "globe thistle",
    "snapdragon",
    "colt's foot",
    "king protea",
    "spear thistle",
    "yellow iris",
    "globe-flower",
    "purple coneflower",
    "peruvian lily",
    "balloon flower",
    "giant white arum lily",
    "fire lily",
    "pincushion flower",
    "fritillary",
    "red ginger",
    "grape hyacinth",
    "corn poppy",
    "prince of wales feathers",
    "stemless gentian",
    "artichoke",
    "sweet william",
    "carnation",
    "garden phlox",
    "love in the mist",
    "mexican aster",
    "alpine sea holly",
    "ruby-lipped cattleya",
    "cape flower",
    "great masterwort",
    "siam tulip",
    "lenten rose",
    "barbeton daisy",
    "daffodil",
    "sword lily",
    "poinsettia",
    "bolero deep blue",
    "wallflower",
    "marigold",
    "buttercup",
    "oxeye daisy",
    "common dandelion",
    "petunia",
    "wild pansy",
    "primula",
    "sunflower",
    "pelargonium",
    "bishop of llandaff",
    "gaura",
    "geranium",
    "orange dahlia",
    "pink-yellow dahlia?",
    "cautleya spicata",
    "japanese anemone",
    "black-eyed susan",
    "silverbush",
    "californian poppy",
    "osteospermum",
    "spring crocus",
    "bearded iris",
    "windflower",
    "tree poppy",
    "gazania",
    "azalea",
    "water lily",
    "rose",
    "thorn apple",
    "morning glory",
    "passion flower",
    "lotus",
    "toad lily",
    "anthurium",
    "frangipani",
    "clematis",
    "hibiscus",
    "columbine",
    "desert-rose",
    "tree mallow",
    "magnolia",
    "cyclamen",
    "watercress",
    "canna lily",
    "hippeastrum",
    "bee balm",
    "ball moss",
    "foxglove",
    "bougainvillea",
    "camellia",
    "mallow",
    "mexican petunia",
    "bromelia",
    "blanket flower",
    "trumpet creeper",
    "blackberry lily",
]


def _present(folder: Path) -> bool:
    return (folder / "jpg").is_dir() and all((folder / f).is_file() for f in FILES)


def _find(root):
    return locate.find(root, ("flowers-102", "flowers102"), _present)


def _mat(path: Path, key: str) -> np.ndarray:
    from scipy.io import loadmat

    try:
        return np.asarray(loadmat(path, squeeze_me=True)[key], dtype=np.int64).reshape(-1)
    except KeyError:
        raise DataError(f"{path} has no {key!r} array; fetch it again") from None
    except Exception as error:
        raise DataError(f"cannot read {path}: {error}; fetch it again") from None


def load(root=None, download: bool = False, size: int | None = None) -> Dataset:
    folder, tried = _find(root)
    if folder is None and download:
        from torchvision.datasets import Flowers102

        try:
            Flowers102(str(locate.download_dir(root)), download=True)
        except Exception as error:
            raise DataError(f"downloading 'flowers102' failed: {error}") from error
        folder, tried = _find(root)
    if folder is None:
        wanted = "flowers-102/ with jpg/, " + ", ".join(FILES)
        raise locate.absent("flowers102", tried, wanted, locate.download_hint("flowers102"))
    labels = _mat(folder / "imagelabels.mat", "labels") - 1
    if len(labels) == 0 or labels.min() < 0 or labels.max() > 101:
        raise DataError(f"{folder / 'imagelabels.mat'} labels are not 1..102")
    ids = {k: _mat(folder / "setid.mat", k) for k in ("trnid", "valid", "tstid")}
    if any(i.min() < 1 or i.max() > len(labels) for i in ids.values() if len(i)):
        raise DataError(f"{folder / 'setid.mat'} refers to images beyond the {len(labels)} labels")

    def part(numbers: np.ndarray):
        files = [folder / "jpg" / f"image_{n:05d}.jpg" for n in numbers]
        return files, labels[numbers - 1]

    parts = {"train": part(np.concatenate([ids["trnid"], ids["valid"]])),
             "test": part(ids["tstid"])}  # fmt: skip
    splits = decode_splits("flowers102", folder, parts, size)
    return Dataset("flowers102", splits, list(CLASSES), str(folder))


def locate_files(root=None) -> str | None:
    folder, _ = _find(root)
    return str(folder) if folder else None


SOURCE = Source(
    name="flowers102",
    summary="102 flower species, 64x64 RGB (Nilsback & Zisserman 2008)",
    load=load,
    locate=locate_files,
    image_shape=(3, DEFAULT_SIZE, DEFAULT_SIZE),
    sizes=(2040, 6149),
    num_classes=102,
    resizable=True,
)
