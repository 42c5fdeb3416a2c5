"""``RunConfig``: everything that determines a run (data, model, training), validated by
pydantic with unknown keys rejected, and ``run_id``, a hash of its resolved form."""

import hashlib
import json
import math
import re
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from reprlab.errors import ConfigError
from reprlab.models.config import ModelConfig

#: the largest seed every RNG takes (torch's is 64-bit)
MAX_SEED = 2**63 - 1
#: the precisions training supports: the data pipeline feeds float32 tensors, so a model cast
#: wholly to another dtype ("16-true", "bf16-true", "64-true") cannot take them
PRECISIONS = ("32-true", "16-mixed", "bf16-mixed")
#: model keys that are layer widths (each at least 1)
WIDTHS = ("hidden", "channels", "latent_dim", "embedding_dim")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False)


class DataConfig(_Section):
    """Arguments of ``reprlab.data.load_dataset``; ``limit`` keeps a seeded random subset of
    that many training examples (quick runs)."""

    name: str = Field(
        "digits",
        description="data set, e.g. digits, fashion-mnist, mnist, cifar10, omniglot, or "
        "folder:PATH",
    )
    root: str | None = Field(None, description="where data sets are read or downloaded")
    download: bool = Field(
        False,
        description="download the data set if it is absent, and for arch resnet18 its "
        "ImageNet weights if they are not in torch hub's cache (needs internet)",
    )
    val_fraction: float = Field(
        0.0, ge=0, lt=1, description="hold out this fraction of train as 'val' for a "
        "validation loss per epoch",
    )  # fmt: skip
    seed: int = Field(
        0, ge=0, le=MAX_SEED, description="seed of the validation split and of the limit subset"
    )
    limit: int | None = Field(None, ge=1, description="train on a seeded random subset this big")


class TrainConfig(_Section):
    """The optimiser, schedule (stepped once per epoch), seed, devices and logging."""

    epochs: int = Field(10, ge=1, description="epochs")
    batch_size: int = Field(
        128, ge=1, description="batch size (magnet batches hold M*D examples instead)"
    )
    drop_last: bool = Field(False, description="drop each epoch's last, smaller batch")
    optimizer: Literal["adam", "adamw", "sgd"] = Field("adam", description="the optimiser")
    lr: float = Field(1e-3, gt=0, description="learning rate")
    weight_decay: float = Field(0.0, ge=0, description="weight decay")
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam's betas")
    momentum: float = Field(0.9, ge=0, description="SGD only")
    schedule: Literal["none", "cosine", "step", "anneal"] = Field(
        "none",
        description="learning-rate schedule, stepped once per epoch (anneal: held, then "
        "linear to 0 from anneal_from)",
    )
    min_lr: float = Field(0.0, ge=0, description="cosine: the last epoch's learning rate")
    anneal_from: float = Field(
        0.8, ge=0, lt=1, description="anneal: fraction of training after which lr falls to 0"
    )
    step_size: int = Field(30, ge=1, description="step: epochs between decays")
    gamma: float = Field(0.1, gt=0, description="step: the decay factor")
    grad_clip: float | None = Field(None, gt=0, description="max gradient norm")
    seed: int = Field(0, ge=0, le=MAX_SEED, description="seed of every random choice")
    accelerator: Literal["auto", "cpu", "cuda", "gpu", "mps"] = Field(
        "auto", description="Fabric accelerator (auto: cuda when present)"
    )
    devices: int | str = Field(1, description="devices per node")
    strategy: str = Field("auto", description="Fabric strategy, e.g. ddp")
    num_nodes: int = Field(1, ge=1, description="nodes of a multi-node strategy")
    precision: Literal[PRECISIONS] = Field("32-true", description="Fabric precision")
    compile: bool = Field(False, description="torch.compile the model's loss (slow first steps)")
    loggers: list[Literal["tensorboard", "wandb", "mlflow"]] = Field(
        default_factory=list,
        description="also log each epoch to tensorboard (RUN/logs/tensorboard), wandb "
        "(RUN/logs/wandb; WANDB_MODE=offline keeps it local) or mlflow (to "
        "MLFLOW_TRACKING_URI); repeatable; the package must be installed",
    )
    log_every: int = Field(50, ge=1, description="steps between progress and finiteness checks")
    eval_batch_size: int = Field(512, ge=1, description="batch size of validation")

    @field_validator("devices", mode="before")
    @classmethod
    def _devices(cls, value: Any) -> Any:
        """A count (at least 1; -1 means all), ``auto``, or device indices ``0,1``."""
        if isinstance(value, str) and re.fullmatch(r"-?\d+", value.strip()):
            value = int(value)
        if isinstance(value, bool) or not isinstance(value, int | str):
            raise ValueError(f"devices must be a count, 'auto' or indices like 0,1, got {value!r}")
        if isinstance(value, int) and value < 1 and value != -1:
            raise ValueError(f"devices must be at least 1 (or -1 or 'auto' for all), got {value}")
        if isinstance(value, str) and value != "auto" and not re.fullmatch(r"\d+(,\d+)*,?", value):
            raise ValueError(f"devices must be a count, 'auto' or indices like 0,1, got {value!r}")
        return value


class RunConfig(_Section):
    """One training run. ``model.name`` must be a key of ``reprlab.models.MODELS``."""

    data: DataConfig = Field(default_factory=DataConfig)
    model: ModelConfig = Field(default_factory=ModelConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)

    @model_validator(mode="after")
    def _numbers(self) -> "RunConfig":
        """The model's numbers at the edge: every float finite, every width at least 1, and
        every loss parameter finite (a scale also positive)."""
        for path, value in _leaves(self.model.model_dump(mode="python"), "model"):
            key = path.rsplit(".", 1)[-1]
            if isinstance(value, float) and not math.isfinite(value):
                raise ValueError(f"{path} must be a finite number, got {value}")
            if (
                key in WIDTHS
                and isinstance(value, int)
                and not isinstance(value, bool)
                and value < 1
            ):
                raise ValueError(f"{path} must be at least 1 (a layer width), got {value}")
            scale = "loss_params" in path and "scale" in key
            if scale and isinstance(value, int | float) and not value > 0:
                raise ValueError(f"{path} must be positive, got {value}")
        return self


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


def _leaves(node: Any, path: str):
    """``(dotted path, value)`` of every scalar in nested dicts, lists and tuples."""
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _leaves(value, f"{path}.{key}")
    elif isinstance(node, list | tuple):
        for value in node:
            yield from _leaves(value, path)
    else:
        yield path, node


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
