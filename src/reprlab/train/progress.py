"""Training progress: a rich bar on a terminal, one plain line per epoch elsewhere.

On a terminal the bar moves every optimiser step and shows ``epoch e/E``, the steps done of
all steps, the last logged loss, steps per second (it/s) and the estimated time left; it is
redrawn at the end of every epoch with the epoch's mean loss. Off a terminal (a log file, a
pipe, CI) nothing is drawn and each epoch prints one line instead::

    epoch 3/20  step 33/220  loss 0.08864  val_loss 0.09121  11.2 it/s  eta 0:00:17
"""

from __future__ import annotations

import math
import os
import sys
import time
from datetime import timedelta
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
)

#: epoch-row columns shown after the loss on the plain line (when present)
SHOWN = ("val_loss", "alpha_mean", "scale_mean")


def is_terminal(stream: TextIO | None = None) -> bool:
    """Whether ``stream`` (standard output by default) is a terminal and CI is not set."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("CI")


def progress_enabled() -> bool:
    """Whether the bar is drawn (a terminal, CI not set); elsewhere a line per epoch."""
    return is_terminal()


def _clock(seconds: float) -> str:
    if not math.isfinite(seconds) or seconds < 0:
        return "-:--:--"
    return str(timedelta(seconds=round(seconds)))


class TrainingProgress:
    """The progress of one fit over ``total_steps`` steps and ``epochs`` epochs.

    ``step`` is called after every optimiser step (cheap: no device sync), ``loss`` when the
    loop has checked a window of losses, ``epoch_end`` with the epoch's row.
    ``enabled=False`` shows nothing; ``None`` shows progress on a terminal (a bar) and off
    one (a line per epoch). ``stream`` defaults to standard output.
    """

    def __init__(
        self,
        total_steps: int,
        done_steps: int = 0,
        enabled: bool | None = None,
        *,
        epochs: int | None = None,
        stream: TextIO | None = None,
    ):
        self.enabled = True if enabled is None else enabled
        self.stream = stream or sys.stdout
        self.total, self.start_step = total_steps, done_steps
        self.epochs = epochs
        self.started = time.perf_counter()
        self.progress: Progress | None = None
        if self.enabled and is_terminal(self.stream):
            self.progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[speed]}"),
                TextColumn("eta"),
                TimeRemainingColumn(),
                console=Console(file=self.stream, force_terminal=True),
                transient=False,
                refresh_per_second=8,
            )
            self.task = self.progress.add_task(
                "train",
                total=total_steps,
                completed=done_steps,
                epoch=self._epoch_text(None),
                loss="-",
                speed="",
            )

    def _epoch_text(self, epoch: int | None) -> str:
        shown = "-" if epoch is None else str(epoch)
        return f"{shown}/{self.epochs}" if self.epochs else shown

    def __enter__(self) -> TrainingProgress:
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def _rate(self, step: int) -> float:
        return (step - self.start_step) / max(time.perf_counter() - self.started, 1e-9)

    def step(self, step: int, epoch: int) -> None:
        """After optimiser step ``step`` (1-based) of epoch ``epoch`` (1-based)."""
        if self.progress is not None:
            self.progress.update(
                self.task,
                completed=step,
                epoch=self._epoch_text(epoch),
                speed=f"{self._rate(step):,.1f} it/s",
            )

    def loss(self, value: float) -> None:
        """The mean loss of the last checked window of steps."""
        if self.progress is not None:
            self.progress.update(self.task, loss=f"{value:.4g}")

    def update(self, step: int, epoch: int, loss: float, images_per_s: float = math.nan) -> None:
        """``step`` and ``loss`` at once (the earlier interface)."""
        self.step(step, epoch)
        self.loss(loss)

    def epoch_end(self, row: dict[str, Any]) -> None:
        """Redraw the bar with the finished epoch's mean loss, or print its plain line."""
        step, epoch = int(row.get("step", 0)), int(row.get("epoch", 0))
        if self.progress is not None:
            self.step(step, epoch)
            self.loss(float(row.get("loss", math.nan)))
            self.progress.refresh()
        elif self.enabled:
            print(self.line(row), file=self.stream, flush=True)

    def line(self, row: dict[str, Any]) -> str:
        """The plain line of one epoch's row."""
        step, epoch = int(row.get("step", 0)), int(row.get("epoch", 0))
        rate = self._rate(step)
        parts = [f"epoch {self._epoch_text(epoch)}", f"step {step}/{self.total}"]
        for key in ("loss", *SHOWN):
            if isinstance(row.get(key), (int, float)):
                parts.append(f"{key} {row[key]:.4g}")
        parts.append(f"{rate:,.1f} it/s")
        left = (self.total - step) / rate if rate > 0 else math.nan
        parts.append(f"eta {_clock(left)}")
        return "  ".join(parts)
