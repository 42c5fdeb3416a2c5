"""A run folder and everything in it: the one owner of its paths and of its files' formats.

::

    RUN/config.yaml            the resolved RunConfig (written before training starts)
    RUN/status.json            running | done | failed | diverged, reason, epoch, step
    RUN/checkpoints/last.pt    the last checkpoint (model, optimiser, RNG and loader states)
    RUN/logs/metrics.csv       one row per epoch (the training curves)
    RUN/logs/summary.json      what the last epoch reported
    RUN/logs/error.log         the traceback of a failed run
    RUN/metrics.json           evaluation results (written by reprlab.evaluate only)
    RUN/figures/NAME.png       figures
    RUN/.lock                  held (flock) by the one process writing the run

train, evaluate, study and the report all reach a run's files through ``RunDir``.
"""

from __future__ import annotations

import csv
import fcntl
import io
import json
import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from reprlab import atomic
from reprlab.errors import ConfigError, ReprlabError

STATUSES = ("running", "done", "failed", "diverged")
FINISHED = ("done", "diverged")
MISSING = "missing"


@dataclass(frozen=True)
class RunDir:
    """The run folder at ``path``; creating the object touches nothing on disk."""

    path: Path

    def __init__(self, path: str | Path | RunDir) -> None:
        object.__setattr__(self, "path", Path(path.path if isinstance(path, RunDir) else path))

    def __fspath__(self) -> str:
        return str(self.path)

    # --- paths --------------------------------------------------------------------------
    @property
    def config_file(self) -> Path:
        return self.path / "config.yaml"

    @property
    def status_file(self) -> Path:
        return self.path / "status.json"

    @property
    def metrics_file(self) -> Path:
        return self.path / "metrics.json"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def last_checkpoint(self) -> Path:
        return self.checkpoints / "last.pt"

    @property
    def logs(self) -> Path:
        return self.path / "logs"

    @property
    def curves_file(self) -> Path:
        return self.logs / "metrics.csv"

    @property
    def summary_file(self) -> Path:
        return self.logs / "summary.json"

    @property
    def error_log(self) -> Path:
        return self.logs / "error.log"

    @property
    def figures(self) -> Path:
        return self.path / "figures"

    def figure(self, name: str) -> Path:
        """Where figure ``name`` is drawn (``figures/NAME.png``)."""
        return self.figures / f"{name}.png"

    # --- lock ---------------------------------------------------------------------------
    @contextmanager
    def lock(self, holder: str = "reprlab train", option: str = "--out") -> Iterator[None]:
        """Hold ``RUN/.lock`` exclusively while writing the run; another holder is a
        ``ConfigError`` at once (creates the folder)."""
        with exclusive_lock(self.path, holder, option):
            yield

    # --- config -------------------------------------------------------------------------
    def is_run(self) -> bool:
        """Whether the folder holds a run (it has a ``config.yaml``)."""
        return self.config_file.is_file()

    def read_config(self) -> dict[str, Any]:
        """The saved config as a plain dict; a folder without one is not a run."""
        if not self.is_run():
            raise ReprlabError(f"{str(self.path)!r} is not a run directory (no config.yaml)")
        try:
            data = yaml.safe_load(self.config_file.read_text(encoding="utf-8"))
        except (OSError, yaml.YAMLError) as error:
            line = " ".join(str(error).split())[:200]
            raise ConfigError(f"cannot read {str(self.config_file)!r}: {line}") from None
        if not isinstance(data, dict):
            raise ConfigError(f"{str(self.config_file)!r} does not hold a mapping")
        return data

    def write_config(self, text: str) -> None:
        atomic.write_text(self.config_file, text)

    # --- status -------------------------------------------------------------------------
    def read_status(self) -> dict[str, Any]:
        """``{'status': ..., 'reason': ..., ...}``; status ``missing`` when the run never
        started (no file) and ``failed`` when the file cannot be read."""
        if not self.status_file.is_file():
            return {"status": MISSING, "reason": "not started"}
        data = _read_json(self.status_file)
        if data is None or data.get("status") not in STATUSES:
            return {"status": "failed", "reason": f"unreadable {self.status_file.name}"}
        return data

    def write_status(self, status: str, reason: str = "", **fields: Any) -> None:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; one of {', '.join(STATUSES)}")
        record = {
            **fields,
            "status": status,
            "reason": reason,
            "updated": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }
        atomic.write_json(self.status_file, record)

    def mark_failed(self, reason: str, traceback_text: str | None = None) -> None:
        """``failed`` with ``reason``, keeping the other fields (epoch, step) of the record."""
        if traceback_text is not None:
            atomic.write_text(self.error_log, traceback_text)
        previous = self.read_status()
        fields = {k: v for k, v in previous.items() if k not in ("status", "reason", "updated")}
        self.write_status("failed", reason, **fields)

    def is_finished(self) -> bool:
        """Done and evaluated, or diverged: nothing more to do for this run."""
        status = self.read_status()["status"]
        return status == "diverged" or (status == "done" and self.metrics_file.is_file())

    def has_checkpoint(self) -> bool:
        return self.last_checkpoint.is_file()

    # --- evaluation results -------------------------------------------------------------
    def read_metrics(self) -> dict[str, Any] | None:
        """``metrics.json``, or ``None`` when absent or unreadable."""
        return _read_json(self.metrics_file)

    def merge_metrics(self, results: dict[str, Any]) -> dict[str, Any]:
        """Merge ``results`` into ``metrics.json`` (new keys win; ``skipped`` entries of
        metrics now computed are dropped) and return the whole file's content."""
        merged = self.read_metrics() or {}
        new = {k: v for k, v in results.items() if k != "skipped"}
        skipped = {**merged.pop("skipped", {}), **results.get("skipped", {})}
        skipped = {k: v for k, v in skipped.items() if k not in new}
        merged.update(new)
        if skipped:
            merged["skipped"] = skipped
        else:
            merged.pop("skipped", None)
        atomic.write_json(self.metrics_file, merged)
        return merged

    # --- training logs ------------------------------------------------------------------
    def write_curves(self, rows: list[dict[str, Any]]) -> None:
        """All epoch rows to ``logs/metrics.csv``, columns in first-seen order."""
        columns: dict[str, None] = {}
        for row in rows:
            columns.update(dict.fromkeys(row))
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
        atomic.write_text(self.curves_file, buffer.getvalue())

    def read_curves(self) -> dict[str, list[float]]:
        """The numeric columns of ``logs/metrics.csv`` (empty cells become NaN); ``{}`` when
        the run has no curves."""
        if not self.curves_file.is_file():
            return {}
        with open(self.curves_file, newline="", encoding="utf-8") as f:
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

    def write_summary(self, summary: dict[str, Any]) -> None:
        atomic.write_json(self.summary_file, summary)

    def read_summary(self) -> dict[str, Any] | None:
        return _read_json(self.summary_file)


@contextmanager
def exclusive_lock(folder: Path, holder: str, option: str = "--out") -> Iterator[None]:
    """An exclusive, non-blocking ``flock`` on ``folder/.lock``, so that two processes never
    write one run or study folder; released when the block ends or the process dies. A folder
    this lock created and nothing else wrote to is removed again."""
    folder = Path(folder)
    created = not folder.exists()
    folder.mkdir(parents=True, exist_ok=True)
    lock = folder / ".lock"
    with open(lock, "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(
                f"another '{holder}' is using {str(folder)!r}; wait for it or choose another "
                f"{option}"
            ) from None
        try:
            yield
        finally:
            if created and [p.name for p in folder.iterdir()] == [lock.name]:
                lock.unlink()
                folder.rmdir()
            fcntl.flock(handle, fcntl.LOCK_UN)


def _read_json(path: Path) -> dict[str, Any] | None:
    """A JSON object from ``path``, or ``None`` if it is absent, unreadable or not an object."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None
