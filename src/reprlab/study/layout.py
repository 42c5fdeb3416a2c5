"""The study directory: ``study.json`` (the index, written only by the parent process),
``runs/<run_id>/`` (one per run, written only by that run), results and report files.

What a run folder holds, and how its files are read, is ``reprlab.rundir.RunDir``'s business.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprlab import atomic
from reprlab.errors import ConfigError
from reprlab.rundir import RunDir

INDEX = "study.json"
RUNS = "runs"


def run_dir(study_dir: Path, run_id: str) -> Path:
    return Path(study_dir) / RUNS / run_id


def write_index(study_dir: Path, index: dict[str, Any]) -> None:
    atomic.write_json(Path(study_dir) / INDEX, index)


def read_index(study_dir: Path) -> dict[str, Any]:
    """The study index; a folder without one is not a study directory."""
    path = Path(study_dir) / INDEX
    if not path.is_file():
        raise ConfigError(
            f"{str(study_dir)!r} is not a study directory (no {INDEX}); "
            "give the --out folder of 'reprlab run'"
        )
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise ConfigError(f"{str(path)!r} is corrupt ({error}); re-run the study") from None


def flatten_metrics(metrics: Any, prefix: str = "") -> dict[str, float]:
    """Numeric leaves of nested dicts and lists as ``{'group/name': value}``.

    Booleans and strings are skipped; ``None`` becomes NaN so a missing value shows as such.
    """
    out: dict[str, float] = {}
    if isinstance(metrics, dict):
        for key, value in metrics.items():
            out.update(flatten_metrics(value, f"{prefix}{key}/"))
    elif isinstance(metrics, list | tuple):
        for i, value in enumerate(metrics):
            out.update(flatten_metrics(value, f"{prefix}{i}/"))
    elif isinstance(metrics, bool) or isinstance(metrics, str):
        pass
    elif isinstance(metrics, int | float):
        out[prefix.rstrip("/")] = float(metrics)
    elif metrics is None and prefix:
        out[prefix.rstrip("/")] = math.nan
    return out


@dataclass
class RunRecord:
    """What the study directory says about one run."""

    run_id: str
    seed: int
    cells: list[str]
    path: Path
    status: str
    reason: str = ""
    metrics: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)


def load_records(study_dir: Path, index: dict[str, Any] | None = None) -> list[RunRecord]:
    """One record per run in the index, with status and flattened metrics from its dir."""
    index = read_index(study_dir) if index is None else index
    records = []
    for entry in index.get("runs", []):
        path = run_dir(study_dir, entry["run_id"])
        run = RunDir(path)
        status = run.read_status()
        metrics = run.read_metrics()
        if status["status"] == "done" and metrics is None:
            status = {
                **status,
                "status": "failed",
                "reason": status.get("reason") or "no metrics.json (evaluation missing)",
            }
        records.append(
            RunRecord(
                run_id=entry["run_id"],
                seed=int(entry["seed"]),
                cells=list(entry["cells"]),
                path=path,
                status=str(status["status"]),
                reason=str(status.get("reason") or entry.get("reason") or ""),
                metrics=flatten_metrics(metrics or {}) if status["status"] == "done" else {},
                info={k: v for k, v in status.items() if k not in ("status", "reason")},
            )
        )
    return records
