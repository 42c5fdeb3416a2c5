"""What every source module provides: a `Source` record for the registry."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from reprlab.data.types import Dataset


@dataclass(frozen=True)
class Source:
    """A named data set.

    ``load(root, download, size)`` returns a `Dataset` with ``train`` and ``test`` splits;
    ``locate(root)`` returns where the files are (None when absent, ``"bundled"`` for data
    shipped with a library). ``image_shape`` is the stored (C, H, W) at the default size,
    ``sizes`` the (train, test) example counts, ``resizable`` whether a ``@SIZE`` suffix applies.
    """

    name: str
    summary: str
    load: Callable[..., Dataset]
    locate: Callable[[str | Path | None], str | None]
    image_shape: tuple[int, int, int]
    sizes: tuple[int, int]
    num_classes: int
    resizable: bool = False
