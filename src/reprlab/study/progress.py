"""The study's progress: runs done of all, failures, elapsed time and the time left.

On a terminal a rich bar sits under the per-run lines; elsewhere each finished run's line is
prefixed ``[k/N]`` and followed by the count of failures and the time left, estimated as the
mean time per finished run times the runs still to go.
"""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

FAILED = ("failed",)


def clock(seconds: float) -> str:
    return str(timedelta(seconds=max(0, round(seconds))))


class StudyProgress:
    """``finished(status, line)`` once per run that ends; use as a context manager."""

    def __init__(self, name: str, total: int, console: Any, interactive: bool) -> None:
        self.name, self.total, self.console = name, total, console
        self.done = self.failures = 0
        self.started = time.perf_counter()
        self.progress = Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("runs  {task.fields[failures]} failed"),
            TimeElapsedColumn(),
            TextColumn("eta"),
            TimeRemainingColumn(),
            console=console,
            disable=not interactive,
            transient=True,
        )
        self.interactive = interactive
        self.task = self.progress.add_task(name, total=total, failures=0)

    def __enter__(self) -> StudyProgress:
        self.started = time.perf_counter()
        self.progress.__enter__()
        return self

    def __exit__(self, *exc) -> None:
        self.progress.__exit__(*exc)

    def eta(self) -> float:
        """Seconds left: the mean seconds per finished run times the runs left."""
        if not self.done:
            return float("nan")
        return (time.perf_counter() - self.started) / self.done * (self.total - self.done)

    def finished(self, status: str, line: str) -> None:
        self.done += 1
        self.failures += status in FAILED
        if self.interactive:
            self.progress.console.print(line)
        else:
            left = "eta 0:00:00" if self.done >= self.total else f"eta {clock(self.eta())}"
            self.console.print(
                f"[{self.done}/{self.total}] {line}  ({self.failures} failed, {left})"
            )
        self.progress.update(self.task, advance=1, failures=self.failures)
