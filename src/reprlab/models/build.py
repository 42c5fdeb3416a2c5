"""The model registry and ``build_model``."""

from collections.abc import Callable, Mapping
from typing import Any

from pydantic import ValidationError

from reprlab.errors import ConfigError
from reprlab.models.autoencoder import (
    Autoencoder,
    DenoisingAutoencoder,
    SparseKLAutoencoder,
    SparseL1Autoencoder,
)
from reprlab.models.base import RepresentationModel
from reprlab.models.config import ModelConfig
from reprlab.models.vae import VAE
from reprlab.models.vqvae import VQVAE
from reprlab.registry import lookup

Builder = Callable[[ModelConfig, Any], RepresentationModel]


def _autoencoder(cls: type[Autoencoder]) -> Builder:
    def build(cfg: ModelConfig, dataset) -> RepresentationModel:
        return cls(cfg, dataset.image_shape)

    build.__doc__ = cls.__doc__
    return build


def _embedder(cfg: ModelConfig, dataset) -> RepresentationModel:
    """Metric learning (seed 003): an mlp, conv or resnet18 embedding network trained with the
    objective ``metric.objective`` (magnet, repmet, triplet or proxy-anchor); needs
    ``dataset.num_classes``."""
    from reprlab.metric.model import build_embedder  # lazy: reprlab.metric imports models

    return build_embedder(cfg, dataset)


#: family name -> builder(model_config, dataset)
MODELS: dict[str, Builder] = {
    "ae": _autoencoder(Autoencoder),
    "dae": _autoencoder(DenoisingAutoencoder),
    "sparse-l1": _autoencoder(SparseL1Autoencoder),
    "sparse-kl": _autoencoder(SparseKLAutoencoder),
    "vae": _autoencoder(VAE),
    "vqvae": _autoencoder(VQVAE),
    "embedder": _embedder,
}


def as_model_config(model_config: ModelConfig | Mapping[str, Any]) -> ModelConfig:
    if isinstance(model_config, ModelConfig):
        return model_config
    try:
        return ModelConfig.model_validate(dict(model_config))
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"model config key {loc!r}: {message}") from None


def build_model(model_config: ModelConfig | Mapping[str, Any], dataset) -> RepresentationModel:
    """The model ``model_config.name`` for ``dataset`` (anything with ``image_shape``, and
    ``num_classes`` for metric learners). Parameters are initialised from torch's global RNG:
    seed it first (``reprlab.train`` does)."""
    cfg = as_model_config(model_config)
    return lookup(MODELS, cfg.name, "model")(cfg, dataset)
