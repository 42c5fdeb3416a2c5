"""Where a run config's key was set, for error messages: the command line (``--set``), or the
study file and line (the base sections, a profile's or grid's ``set``, an axis)."""

from __future__ import annotations

from typing import Any

from pydantic import ValidationError

from reprlab.registry import did_you_mean
from reprlab.study.spec import ResolvedStudy, _fields_at


def _set_path(section: tuple[str, ...], overrides: dict[str, Any], key: str):
    """The file path of ``key`` inside a ``set``-like mapping of dotted keys, or None."""
    for name in overrides:
        if key == name:
            return (*section, name)
        if key.startswith(name + "."):
            return (*section, name, *key[len(name) + 1 :].split("."))
    return None


def origin(study: ResolvedStudy, key: str) -> str:
    """Where the dotted config ``key`` came from, as a phrase."""
    for name, where in study.origins.items():
        if key == name or key.startswith(name + ".") or name.startswith(key + "."):
            return where
    spec, lines = study.spec, study.spec._lines
    paths = []
    if study.profile and study.profile in spec.profiles:
        set_ = spec.profiles[study.profile].set
        paths.append(_set_path(("profiles", study.profile, "set"), set_, key))
    for gname, grid in spec.grids.items():
        paths.append(_set_path(("grids", gname, "set"), grid.set, key))
    for aname, axis in spec.axes.items():
        for label, overrides in (axis.variants or {}).items():
            paths.append(_set_path(("axes", aname, "variants", label), overrides, key))
        if axis.path == key:
            paths.append(("axes", aname, "path"))
    paths.append(tuple(key.split(".")))
    for path in paths:
        if path is not None and path in lines:
            return f"{spec._where}, line {lines[path]}"
    return f"{spec._where} (its base sections, axes or profile)"


def config_error(study: ResolvedStudy, cell: str, error: ValidationError, schema: Any) -> str:
    """One line for a run config that does not validate: the key, where it was set, what is
    wrong, and for an unknown key the closest valid one."""
    first = error.errors()[0]
    loc = ".".join(str(p) for p in first["loc"])
    msg = first["msg"]
    if first["type"] == "extra_forbidden":
        valid = _fields_at(first["loc"][:-1], schema) if schema is not None else []
        hint = did_you_mean(str(first["loc"][-1]), valid)
        msg = f"unknown key{hint}" + (f" (valid keys: {', '.join(valid)})" if valid else "")
    return (
        f"study {study.spec.name!r}, cell {cell}: config key {loc!r} from "
        f"{origin(study, loc)}: {msg}; fix it there"
    )
