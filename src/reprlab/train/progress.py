"""A rich progress bar with the loss and speed, silent off a terminal or when CI is set."""

import os
import sys

from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)


def progress_enabled() -> bool:
    return sys.stdout.isatty() and not os.environ.get("CI")


class TrainingProgress:
    """One bar over all steps of the run; ``update`` is called every few steps only."""

    def __init__(self, total_steps: int, done_steps: int = 0, enabled: bool | None = None):
        self.enabled = progress_enabled() if enabled is None else enabled
        self.progress: Progress | None = None
        if self.enabled:
            self.progress = Progress(
                TextColumn("[bold]epoch {task.fields[epoch]}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("loss {task.fields[loss]}"),
                TextColumn("{task.fields[speed]}"),
                TimeElapsedColumn(),
                TimeRemainingColumn(),
                transient=False,
            )
            self.task = self.progress.add_task(
                "train", total=total_steps, completed=done_steps, epoch="-", loss="-", speed=""
            )

    def __enter__(self) -> "TrainingProgress":
        if self.progress is not None:
            self.progress.start()
        return self

    def __exit__(self, *exc) -> None:
        if self.progress is not None:
            self.progress.stop()

    def update(self, step: int, epoch: int, loss: float, images_per_s: float) -> None:
        if self.progress is not None:
            self.progress.update(
                self.task,
                completed=step,
                epoch=epoch,
                loss=f"{loss:.4g}",
                speed=f"{images_per_s:,.0f} img/s",
            )
