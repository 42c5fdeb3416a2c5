"""The runner's bridge to reprlab: configs are ``reprlab.train.RunConfig`` named by
``run_id``; runs are trained by ``train_run`` and judged by ``reprlab.evaluate.evaluate``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from reprlab.rundir import RunDir

SEED_KEY = "train.seed"


def validate(config: dict[str, Any]) -> Any:
    """The ``RunConfig`` of ``config``, its loss name checked too (before any training)."""
    from reprlab.errors import UnknownNameError
    from reprlab.models.reconstruction import objective_names
    from reprlab.train import RunConfig

    validated = RunConfig.model_validate(config)
    loss = validated.model.loss
    if validated.model.name != "embedder" and loss not in objective_names():
        raise UnknownNameError(
            f"unknown loss {loss!r} (model.loss); valid: {', '.join(objective_names())}"
        )
    return validated


def check_evaluation(metrics: list[str] | None, figures: list[str], options: dict) -> None:
    """Every metric, figure and evaluation option name exists (checked before any training)."""
    from reprlab.evaluate.figures import FIGURES
    from reprlab.evaluate.metrics import METRICS
    from reprlab.evaluate.options import check_options
    from reprlab.registry import lookup

    for name in metrics or []:
        lookup(METRICS, name, "metric")
    for name in figures or []:
        lookup(FIGURES, name, "figure")
    check_options(options)


def run_id(config: Any) -> str:
    from reprlab.train import run_id as train_run_id

    return train_run_id(config)


def has_checkpoint(run_dir: Path) -> bool:
    return RunDir(run_dir).has_checkpoint()


def train(config: dict[str, Any], run_dir: Path, resume: bool = False) -> None:
    """Train (or resume) the run; its progress bar stays off, the study shows its own."""
    from reprlab.train import train_run

    train_run(config, run_dir, resume=resume, progress=False)


def evaluate(
    run_dir: Path, metrics: list[str] | None, figures: list[str], options: dict[str, Any]
) -> None:
    from reprlab.evaluate import evaluate as evaluate_run

    evaluate_run(run_dir, metrics, figures, options)
