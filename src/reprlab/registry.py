"""Registries are plain dicts from names to constructors; `lookup` gives the clear error."""

from collections.abc import Mapping
from typing import TypeVar

from reprlab.errors import UnknownNameError

T = TypeVar("T")


def lookup(registry: Mapping[str, T], name: str, kind: str) -> T:
    """Return ``registry[name]``; an unknown name raises an error listing the valid ones."""
    try:
        return registry[name]
    except KeyError:
        valid = ", ".join(sorted(registry))
        raise UnknownNameError(f"unknown {kind} {name!r}; valid: {valid}") from None
