"""Grid expansion: every grid's axes crossed, times every seed, as validated ``RunConfig``s.

A *cell* is one point of a grid (one label per axis); a *run* is a cell at one seed. Run ids
come from ``reprlab.train.run_id`` (a hash of the resolved config), so two grids that share
a point share its runs, and re-running a study finds the runs it already has.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from pydantic import ValidationError

from reprlab.errors import ConfigError, UnknownNameError
from reprlab.study.origin import config_error
from reprlab.study.spec import ResolvedStudy, apply_overrides


@dataclass(frozen=True, order=True)
class Cell:
    """One point of a grid: the grid's name and ``(axis, label)`` pairs in axis order."""

    grid: str
    labels: tuple[tuple[str, str], ...]

    @property
    def key(self) -> str:
        """A stable string id, e.g. ``main/loss=cauchy,arch=mlp``."""
        return f"{self.grid}/" + ",".join(f"{a}={v}" for a, v in self.labels)

    @property
    def name(self) -> str:
        """The label shown in tables, e.g. ``cauchy · mlp`` (just the values)."""
        return " · ".join(v for _, v in self.labels) or self.grid

    @classmethod
    def from_key(cls, key: str) -> Cell:
        grid, _, rest = key.partition("/")
        pairs = tuple(tuple(p.split("=", 1)) for p in rest.split(",") if p)
        return cls(grid, pairs)  # type: ignore[arg-type]


@dataclass
class PlannedRun:
    """A run to train: its id, validated config, seed, and the cells it belongs to."""

    run_id: str
    config: Any
    seed: int
    cells: list[Cell] = field(default_factory=list)

    def config_dict(self) -> dict[str, Any]:
        return self.config.model_dump(mode="json")


def seed_path(config_cls: Any) -> str:
    """Where ``RunConfig`` keeps its seed: ``seed`` at the top, else ``train.seed``."""
    fields = getattr(config_cls, "model_fields", {})
    return "seed" if "seed" in fields else "train.seed"


def _default_factories() -> tuple[Callable[[dict], Any], Callable[[Any], str], str]:
    from reprlab.study import backend

    return backend.validate, backend.run_id, backend.SEED_KEY


def _schema(make_config: Callable[[dict], Any]) -> Any:
    """The pydantic model ``make_config`` validates with, for did-you-mean (or None)."""
    if getattr(make_config, "__module__", "") == "reprlab.study.backend":
        from reprlab.train import RunConfig

        return RunConfig
    return getattr(make_config, "__self__", None)


def expand(
    study: ResolvedStudy,
    make_config: Callable[[dict], Any] | None = None,
    make_id: Callable[[Any], str] | None = None,
    seed_key: str | None = None,
) -> list[PlannedRun]:
    """All runs of a resolved study, in grid order then seed order, without duplicates;
    with the default factories, the study's metric, figure and option names are checked too.

    ``make_config`` validates a config dict (default ``RunConfig.model_validate``) and
    ``make_id`` names it (default ``reprlab.train.run_id``). A config that does not validate
    raises ``ConfigError`` naming the cell and the key.
    """
    if make_config is None or make_id is None:
        check_evaluation(study)
        default_config, default_id, default_seed = _default_factories()
        make_config = make_config or default_config
        make_id = make_id or default_id
        seed_key = seed_key or default_seed
    seed_key = seed_key or "train.seed"
    runs: dict[str, PlannedRun] = {}
    for grid_name, grid in study.grids.items():
        axis_names = list(grid.axes)
        points = [grid.axes[a].points() for a in axis_names]
        for combo in itertools.product(*points):
            cell = Cell(grid_name, tuple((a, label) for a, (label, _) in zip(axis_names, combo)))
            for seed in study.seeds:
                config = copy.deepcopy(study.base)
                apply_overrides(config, grid.set)
                for _, overrides in combo:
                    apply_overrides(config, overrides)
                apply_overrides(config, {seed_key: seed})
                try:
                    validated = make_config(config)
                except ValidationError as error:
                    schema = _schema(make_config)
                    raise ConfigError(config_error(study, cell.key, error, schema)) from None
                except ConfigError as error:
                    kind = UnknownNameError if isinstance(error, UnknownNameError) else ConfigError
                    raise kind(
                        f"study {study.spec.name!r}, cell {cell.key}: {error}; fix the study's "
                        "base, axes or profile"
                    ) from None
                rid = make_id(validated)
                run = runs.setdefault(rid, PlannedRun(rid, validated, seed))
                if cell not in run.cells:
                    run.cells.append(cell)
    return list(runs.values())


def check_evaluation(study: ResolvedStudy, backend: Any = None) -> None:
    """The names under ``evaluate`` (metrics, figures, options) exist, by the backend's
    ``check_evaluation`` (default ``reprlab.study.backend``); a backend without one checks
    nothing."""
    if backend is None:
        from reprlab.study import backend
    check = getattr(backend, "check_evaluation", None)
    if check is None:
        return
    evaluation = study.evaluate
    try:
        check(evaluation.metrics, evaluation.figures, evaluation.options)
    except ConfigError as error:
        kind = UnknownNameError if isinstance(error, UnknownNameError) else ConfigError
        raise kind(f"study {study.spec.name!r}, evaluate: {error}; fix the study") from None


def cells_of(runs: list[PlannedRun]) -> list[Cell]:
    """The distinct cells of ``runs`` in first-seen order."""
    seen: dict[Cell, None] = {}
    for run in runs:
        for cell in run.cells:
            seen.setdefault(cell, None)
    return list(seen)
