"""Whole runs: ``train_run`` (data, model, fit, from a config) and ``load_run`` (back again)."""

from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import torch

from reprlab.callbacks import Callback
from reprlab.errors import ConfigError, DataError
from reprlab.rundir import RunDir
from reprlab.train.checkpoint import load_checkpoint
from reprlab.train.config import DataConfig, RunConfig, validate_config
from reprlab.train.loggers import check_loggers
from reprlab.train.loop import FitResult, fit, make_fabric, seed_everything

#: words of Fabric's refusals, and the option each one is about
_FABRIC_OPTIONS = (("strategy", "--strategy"), ("devices", "--devices"),
                   ("accelerator", "--device"), ("precision", "--precision"))  # fmt: skip


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
    check_fabric(config.train)
    dataset = load_data(config.data)
    check_batches(config, dataset)
    seed_everything(config.train.seed)
    model = build_model(config.model, dataset)
    return config, dataset, model


def check_fabric(train) -> None:
    """Build the run's ``Fabric`` once, so that a strategy, device count or accelerator it
    refuses is a one-line ``ConfigError`` before anything is written."""
    try:
        make_fabric(train)
    except (ValueError, RuntimeError, TypeError, ImportError) as error:
        text = " ".join(str(error).split())
        option = next((o for word, o in _FABRIC_OPTIONS if word in text.lower()), "--device")
        raise ConfigError(f"{option}: {text[:300]}") from None


def check_batches(config: RunConfig, dataset) -> None:
    """An epoch must hold at least one batch: ``drop_last`` with a batch larger than the
    training split would train on nothing."""
    n, size = len(dataset.train), config.train.batch_size
    if n == 0:
        raise DataError(f"data set {config.data.name!r} has no training examples")
    if config.train.drop_last and size > n:
        raise ConfigError(
            f"--batch-size {size} with drop_last leaves no batch: the training split has {n} "
            f"examples; use a batch size of at most {n} or drop_last=false"
        )


def check_resumable(model, checkpoint: dict[str, Any], where: str) -> None:
    """The checkpoint's weights fit ``model``; otherwise a ``ConfigError`` (its config was
    changed since it was written)."""
    try:
        model.load_state_dict(checkpoint["model"])
    except (RuntimeError, KeyError, TypeError) as error:
        first = " ".join(str(error).split())[:240]
        raise ConfigError(
            f"the checkpoint in {where!r} does not fit its config ({first}); train into a new "
            "--out or restore the config it was written with"
        ) from None


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
