"""Whole runs: ``train_run`` (data, model, fit, from a config) and ``load_run`` (back again)."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from reprlab.callbacks import Callback
from reprlab.rundir import RunDir
from reprlab.train.checkpoint import load_checkpoint
from reprlab.train.config import DataConfig, RunConfig, validate_config
from reprlab.train.loggers import check_loggers
from reprlab.train.loop import FitResult, fit, seed_everything


def load_data(data: DataConfig):
    """``reprlab.data.load_dataset`` with the config's arguments; ``limit`` keeps a random
    subset (seeded by ``data.seed``) of the training split, in its original order."""
    from reprlab.data import load_dataset

    dataset = load_dataset(
        data.name,
        root=data.root,
        download=data.download,
        val_fraction=data.val_fraction,
        seed=data.seed,
    )
    if data.limit is not None and data.limit < len(dataset.train):
        generator = torch.Generator().manual_seed(data.seed)
        keep = torch.randperm(len(dataset.train), generator=generator)[: data.limit].sort()[0]
        dataset = replace(dataset, splits={**dataset.splits, "train": dataset.train.subset(keep)})
    return dataset


def prepare(config: RunConfig | dict[str, Any]):
    """Validate ``config``, load its data and build its model (seeded): ``(config, dataset,
    model)``. Nothing is written, so a bad config fails before any run directory exists."""
    from reprlab.models import build_model

    if not isinstance(config, RunConfig):
        config = validate_config(dict(config))
    check_loggers(config.train.loggers)
    dataset = load_data(config.data)
    seed_everything(config.train.seed)
    model = build_model(config.model, dataset)
    return config, dataset, model


def train_run(
    config: RunConfig | dict[str, Any],
    run_dir: str | Path,
    *,
    resume: bool = False,
    callbacks: Sequence[Callback] = (),
    progress: bool | None = None,
) -> FitResult:
    """Train the run ``config`` describes into ``run_dir`` (resuming from its checkpoint when
    ``resume`` and there is one)."""
    config, dataset, model = prepare(config)
    return fit(model, dataset, config, run_dir, callbacks, resume=resume, progress=progress)


@dataclass
class LoadedRun:
    model: Any
    dataset: Any
    config: RunConfig


def load_run(run_dir: str | Path, map_location: str | torch.device = "cpu") -> LoadedRun:
    """The run's model with its final weights (``checkpoints/last.pt``: the end of training, or
    the last good epoch of a diverged run), in eval mode, with its data and config."""
    run = RunDir(run_dir)
    config = validate_config(run.read_config(), str(run.config_file))
    config, dataset, model = prepare(config)
    checkpoint = load_checkpoint(run.last_checkpoint)
    model.load_state_dict(checkpoint["model"])
    return LoadedRun(model.to(map_location).eval(), dataset, config)
