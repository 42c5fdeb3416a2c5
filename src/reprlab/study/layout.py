"""The study directory: ``study.json`` (the index, written only by the parent process),
``runs/<run_id>/`` (one per run, written only by that run), results and report files.

A run directory holds ``config.yaml``, ``status.json``, ``metrics.json``, ``checkpoints/``,
``logs/metrics.csv`` and ``figures/`` (see docs/architecture.md).
"""

from __future__ import annotations

import csv
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprlab import atomic
from reprlab.errors import ConfigError

INDEX = "study.json"
RUNS = "runs"
FINISHED = ("done", "diverged")


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


def read_json(path: Path) -> dict[str, Any] | None:
    """A JSON file's content, or ``None`` if it is absent or unreadable."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None
    return data if isinstance(data, dict) else None


def read_status(path: Path) -> dict[str, Any]:
    """``status.json`` of a run dir as ``{'status': ..., 'reason': ..., ...}``;
    ``missing`` when the run never started."""
    data = read_json(Path(path) / "status.json")
    if data is None:
        return {"status": "missing", "reason": "not started"}
    data = dict(data)
    data.setdefault("status", data.get("state", "unknown"))
    return data


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


def read_curves(path: Path) -> dict[str, list[float]]:
    """Columns of a run's ``logs/metrics.csv`` as floats (empty cells become NaN)."""
    path = Path(path) / "logs" / "metrics.csv"
    if not path.is_file():
        return {}
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns: dict[str, list[float]] = {}
    for row in rows:
        for key, value in row.items():
            if key is None:
                continue
            try:
                number = float(value) if value not in ("", None) else math.nan
            except ValueError:
                continue
            columns.setdefault(key, []).append(number)
    return {k: v for k, v in columns.items() if len(v) == len(rows)}


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
        status = read_status(path)
        metrics = read_json(path / "metrics.json")
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
