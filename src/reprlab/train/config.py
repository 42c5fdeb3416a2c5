"""``RunConfig``: everything that determines a run (data, model, training), validated by
pydantic with unknown keys rejected, and ``run_id``, a hash of its resolved form."""

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from reprlab.errors import ConfigError
from reprlab.models.config import ModelConfig


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class DataConfig(_Section):
    """Arguments of ``reprlab.data.load_dataset``; ``limit`` keeps a seeded random subset of
    that many training examples (quick runs)."""

    name: str = "digits"
    root: str | None = None
    download: bool = False
    val_fraction: float = Field(0.0, ge=0, lt=1)
    seed: int = 0
    limit: int | None = Field(None, ge=1)


class TrainConfig(_Section):
    """The optimiser, schedule (stepped once per epoch), seed, devices and logging."""

    epochs: int = Field(10, ge=1)
    batch_size: int = Field(128, ge=1)
    drop_last: bool = False
    optimizer: Literal["adam", "adamw", "sgd"] = "adam"
    lr: float = Field(1e-3, gt=0)
    weight_decay: float = Field(0.0, ge=0)
    betas: tuple[float, float] = (0.9, 0.999)
    momentum: float = Field(0.9, ge=0, description="SGD only")
    schedule: Literal["none", "cosine", "step", "anneal"] = "none"
    min_lr: float = Field(0.0, ge=0, description="cosine: the last epoch's learning rate")
    anneal_from: float = Field(
        0.8, ge=0, lt=1, description="anneal: fraction of training after which lr falls to 0"
    )
    step_size: int = Field(30, ge=1, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0, description="step: the decay factor")
    grad_clip: float | None = Field(None, gt=0, description="max gradient norm")
    seed: int = 0
    accelerator: Literal["auto", "cpu", "cuda", "gpu", "mps"] = "auto"
    devices: int | str = 1
    strategy: str = "auto"
    num_nodes: int = Field(1, ge=1)
    precision: str = "32-true"
    loggers: list[Literal["tensorboard", "wandb", "mlflow"]] = Field(default_factory=list)
    log_every: int = Field(50, ge=1, description="steps between progress and finiteness checks")
    eval_batch_size: int = Field(512, ge=1)


class RunConfig(_Section):
    """One training run. ``model.name`` must be a key of ``reprlab.models.MODELS``."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)


#: keys that change how a run is watched, not what it computes; left out of ``run_id``
PRESENTATION_KEYS = {"train": ("loggers", "log_every")}


def run_id(config: RunConfig) -> str:
    """12 hex digits of the SHA-256 of the config's resolved JSON (defaults filled in, keys
    sorted), logging options left out: equal configs share a run directory."""
    resolved = config.model_dump(mode="json")
    for section, keys in PRESENTATION_KEYS.items():
        for key in keys:
            resolved[section].pop(key, None)
    text = json.dumps(resolved, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def validate_config(raw: dict[str, Any], source: str = "config") -> RunConfig:
    """``RunConfig.model_validate`` whose error is one ``ConfigError`` line naming the key."""
    try:
        return RunConfig.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{source}: key {loc!r}: {message}") from None


def load_config(path: str | Path) -> RunConfig:
    """A ``RunConfig`` from a YAML file (``yaml.safe_load``)."""
    path = Path(path)
    try:
        raw = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        raise ConfigError(f"config file {str(path)!r} does not exist; check the path") from None
    except yaml.YAMLError as error:
        line = " ".join(str(error).split())
        raise ConfigError(f"config file {str(path)!r} is not valid YAML: {line}") from None
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(f"config file {str(path)!r} must hold a mapping of sections")
    return validate_config(raw, str(path))


def dump_config(config: RunConfig) -> str:
    """The YAML text of ``config`` (what ``config.yaml`` holds)."""
    return yaml.safe_dump(config.model_dump(mode="json"), sort_keys=False)
