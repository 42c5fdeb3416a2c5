"""Registries are plain dicts from names to constructors; `lookup` gives the clear error."""

import difflib
from collections.abc import Iterable, Mapping
from typing import TypeVar

from reprlab.errors import UnknownNameError

T = TypeVar("T")


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """``"; did you mean 'x'?"`` for the closest of ``choices`` by ``difflib``'s ratio
    (hyphens and underscores compared as one character), else ``""``."""
    folded = {str(c).replace("_", "-").lower(): str(c) for c in choices}
    key = str(name).replace("_", "-").lower()
    close = difflib.get_close_matches(key, list(folded), n=1, cutoff=0.6)
    return f"; did you mean {folded[close[0]]!r}?" if close else ""


def lookup(registry: Mapping[str, T], name: str, kind: str) -> T:
    """Return ``registry[name]``; an unknown name raises an error that suggests the closest
    valid one and lists them all."""
    try:
        return registry[name]
    except KeyError:
        valid = ", ".join(sorted(registry))
        hint = did_you_mean(name, registry)
        raise UnknownNameError(f"unknown {kind} {name!r}; valid: {valid}{hint}") from None
