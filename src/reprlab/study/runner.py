"""Run a study: expand it, skip finished runs, run the rest on an executor, keep the index.

Only this (parent) process writes the study-level files (``study.json``, results, report),
atomically; each run writes only its own directory. A run is *finished* when its status is
``done`` with a ``metrics.json``, or ``diverged``; everything else (never started,
interrupted, ``failed``) runs again, resuming from its last checkpoint when it has one.
"""

from __future__ import annotations

import importlib
import os
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprlab import __version__
from reprlab.errors import ConfigError
from reprlab.rundir import RunDir, exclusive_lock
from reprlab.study import layout
from reprlab.study.executors import run_tasks
from reprlab.study.expand import PlannedRun, cells_of, check_evaluation
from reprlab.study.progress import StudyProgress
from reprlab.study.spec import ResolvedStudy
from reprlab.study.tune import TUNING, plan, write_applied
from reprlab.study.worker import DEFAULT_BACKEND


@dataclass
class StudyRun:
    """What ``run_study`` did."""

    out: Path
    planned: list[PlannedRun]
    skipped: list[str] = field(default_factory=list)
    outcomes: list[dict[str, Any]] = field(default_factory=list)

    @property
    def failed(self) -> list[dict[str, Any]]:
        return [o for o in self.outcomes if o["status"] == "failed"]


def build_index(study: ResolvedStudy, runs: list[PlannedRun], out: Path) -> dict[str, Any]:
    spec = study.spec
    index = {
        "study": spec.name,
        "profile": study.profile,
        "question": spec.question,
        "description": spec.description,
        "source": spec.source,
        "reprlab_version": __version__,
        "spec": spec.model_dump(mode="json"),
        "resolved": {
            "base": study.base,
            "seeds": study.seeds,
            "grids": {n: g.model_dump(mode="json") for n, g in study.grids.items()},
            "evaluate": study.evaluate.model_dump(mode="json"),
        },
        "report": spec.report.model_dump(mode="json"),
        "cells": [c.key for c in cells_of(runs)],
        "runs": [],
    }
    for run in runs:
        status = RunDir(layout.run_dir(out, run.run_id)).read_status()
        index["runs"].append(
            {
                "run_id": run.run_id,
                "seed": run.seed,
                "cells": [c.key for c in run.cells],
                "status": status["status"],
                "reason": status.get("reason", ""),
            }
        )
    return index


def _check_out(out: Path, name: str) -> None:
    if out.exists() and not out.is_dir():
        raise ConfigError(f"--out {str(out)!r} is a file, not a folder; choose another --out")
    if (out / layout.INDEX).is_file():
        previous = layout.read_index(out).get("study")
        if previous != name:
            raise ConfigError(
                f"{str(out)!r} holds study {previous!r}, not {name!r}; choose another --out"
            )
    elif out.exists() and any(p.name[0] != "." and p.name != TUNING for p in out.iterdir()):
        raise ConfigError(
            f"{str(out)!r} exists and is not a study directory; choose an empty or new --out"
        )


@contextmanager
def study_lock(out: Path) -> Iterator[None]:
    """Hold ``out/.lock`` so that two ``reprlab run`` never share a study directory."""
    with exclusive_lock(out, "reprlab run"):
        yield


def _interactive() -> bool:
    return sys.stdout.isatty() and not os.environ.get("CI")


def _line(planned: dict[str, PlannedRun], outcome: dict[str, Any], headline: list[str]) -> str:
    run = planned[outcome["run_id"]]
    mark = {"done": "done", "diverged": "DIVERGED", "failed": "FAILED"}.get(
        outcome["status"], outcome["status"]
    )
    cells = "; ".join(c.key for c in run.cells)
    text = f"{mark:<8} {cells}  seed {run.seed}  {run.run_id}  {outcome['seconds']:.1f}s"
    if outcome.get("resumed"):
        text += "  (resumed)"
    if outcome["status"] == "done" and outcome.get("metrics"):
        flat = layout.flatten_metrics(outcome["metrics"])
        shown = [
            m for m in flat if any(m == h or m.startswith(h.rstrip("/") + "/") for h in headline)
        ][:3]
        text += "  " + "  ".join(f"{m}={flat[m]:.4g}" for m in shown)
    elif outcome.get("reason"):
        text += f"  {outcome['reason']}"
    return text


def run_study(
    study: ResolvedStudy,
    out: str | Path,
    *,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    console: Any = None,
    backend: str = DEFAULT_BACKEND,
    chosen: dict[str, dict[str, Any]] | None = None,
    tuned: bool = False,
    dashboard: bool = False,
) -> StudyRun:
    """Train and evaluate every unfinished run of ``study`` into ``out/runs/<run_id>/``.

    ``backend`` names the module that validates, names, trains and evaluates runs
    (``validate``, ``run_id``, ``SEED_KEY``, ``has_checkpoint``, ``train``, ``evaluate``).
    ``chosen`` maps cell keys to config values found by tuning (``tuned``); by default each
    cell runs at the values the study's ``tune.chosen`` ships (``reprlab.study.tune.plan``).
    """
    if jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {jobs}")
    out = Path(out).resolve()
    module = importlib.import_module(backend)
    if chosen is None and study.spec.tune is not None:
        chosen = study.spec.tune.chosen
    check_evaluation(study, module)  # every name, before any training
    planned = plan(study, chosen, module.validate, module.run_id, module.SEED_KEY)
    _check_out(out, study.spec.name)
    with study_lock(out):
        write_applied(out, study, cells_of(planned), chosen, tuned)
        return _run(study, planned, out, jobs, executor, address, console, backend, dashboard)


def _run(
    study: ResolvedStudy,
    planned: list[PlannedRun],
    out: Path,
    jobs: int,
    executor: str,
    address: str | None,
    console: Any,
    backend: str,
    dashboard: bool = False,
) -> StudyRun:
    from rich.console import Console

    result = StudyRun(out, planned)
    by_id = {run.run_id: run for run in planned}
    tasks = []
    for run in planned:
        path = layout.run_dir(out, run.run_id)
        if RunDir(path).is_finished():
            result.skipped.append(run.run_id)
            continue
        tasks.append(
            {
                "run_dir": str(path),
                "config": run.config_dict(),
                "metrics": study.evaluate.metrics,
                "figures": study.evaluate.figures,
                "options": study.evaluate.options,
                "backend": backend,
            }
        )
    layout.write_index(out, build_index(study, planned, out))
    console = console or Console(highlight=False, soft_wrap=True, markup=False)
    console.print(
        f"study {study.spec.name} ({study.profile or 'no profile'}): "
        f"{len(planned)} runs, {len(result.skipped)} already finished, "
        f"{len(tasks)} to run with {jobs} job(s) on {executor}; out: {out}"
    )
    headline = study.spec.report.metrics
    start = time.perf_counter()
    with StudyProgress(study.spec.name, len(tasks), console, _interactive()) as progress:
        for outcome in run_tasks(tasks, executor, jobs, address, dashboard):
            result.outcomes.append(outcome)
            progress.finished(outcome["status"], _line(by_id, outcome, headline))
            layout.write_index(out, build_index(study, planned, out))
    if tasks:
        console.print(f"ran {len(tasks)} runs in {time.perf_counter() - start:.1f}s")
    return result
