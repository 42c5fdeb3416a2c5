"""Where data sets are looked for, and the error when one is absent.

Search order: ``root``, ``$REPRLAB_DATA``, the cache directory (``$REPRLAB_CACHE`` or, by
``platformdirs``, ``~/.cache/reprlab``); under each, the data set's own sub-folders
(torchvision's layouts such as ``FashionMNIST/raw``); then system folders a source names
(Debian's ``/usr/share/datasets/fashion-mnist``).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path

from reprlab.errors import DataError


def cache_dir() -> Path:
    """reprlab's cache folder: ``$REPRLAB_CACHE``, else the user cache dir (~/.cache/reprlab)."""
    if os.environ.get("REPRLAB_CACHE"):
        return Path(os.environ["REPRLAB_CACHE"]).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("reprlab"))


def base_dirs(root: str | Path | None = None) -> list[Path]:
    """``root``, ``$REPRLAB_DATA``, the cache directory (`cache_dir`), in order, without repeats."""
    dirs = []
    if root:
        dirs.append(Path(root).expanduser())
    if os.environ.get("REPRLAB_DATA"):
        dirs.append(Path(os.environ["REPRLAB_DATA"]).expanduser())
    dirs.append(cache_dir())
    return list(dict.fromkeys(dirs))


def download_dir(root: str | Path | None = None) -> Path:
    """Where ``download=True`` writes: the first of `base_dirs`."""
    return base_dirs(root)[0]


def candidates(
    root: str | Path | None, subdirs: Sequence[str], extra: Iterable[str | Path] = ()
) -> list[Path]:
    """Every folder to try, in order: each base dir, then each ``base/sub``, then ``extra``."""
    found = []
    for base in base_dirs(root):
        found.append(base)
        found.extend(base / sub for sub in subdirs)
    found.extend(Path(p) for p in extra)
    return list(dict.fromkeys(found))


def find(
    root: str | Path | None,
    subdirs: Sequence[str],
    present: Callable[[Path], bool],
    extra: Iterable[str | Path] = (),
) -> tuple[Path | None, list[Path]]:
    """The first candidate folder where ``present(folder)`` holds, and every folder tried."""
    tried = candidates(root, subdirs, extra)
    for folder in tried:
        if folder.is_dir() and present(folder):
            return folder, tried
    return None, tried


def absent(name: str, tried: Sequence[Path], wanted: str, how: str) -> DataError:
    """The one error for a data set that is not on this machine."""
    places = "; ".join(str(p) for p in tried)
    return DataError(
        f"data set {name!r} not found: looked for {wanted} in {places}. To get it: {how}"
    )


def download_hint(name: str, extra: str = "") -> str:
    hint = (
        "when online, fetch it: reprlab train --download, reprlab data info NAME --download, "
        f"load_dataset({name!r}, download=True); or put the files in a folder DIR and pass "
        "it: reprlab train --data-root DIR, reprlab data info NAME --root DIR, reprlab run "
        "--set data.root=DIR, load_dataset(..., root=DIR), or set $REPRLAB_DATA"
    )
    return f"{extra}; or {hint}" if extra else hint
