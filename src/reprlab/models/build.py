"""The model registry and ``build_model``."""

from collections.abc import Callable, Mapping
from typing import Any

from reprlab.models.autoencoder import (
    Autoencoder,
    DenoisingAutoencoder,
    SparseKLAutoencoder,
    SparseL1Autoencoder,
)
from reprlab.models.base import RepresentationModel
from reprlab.models.config import ModelConfig, validate_section
from reprlab.models.embedder import build_embedder
from reprlab.models.vae import VAE
from reprlab.models.vqvae import VQVAE
from reprlab.registry import lookup

Builder = Callable[[ModelConfig, Any], RepresentationModel]


def _autoencoder(cls: type[Autoencoder]) -> Builder:
    def build(cfg: ModelConfig, dataset) -> RepresentationModel:
        return cls(cfg, dataset.image_shape)

    build.__doc__ = cls.__doc__
    return build


#: family name -> builder(model_config, dataset)
MODELS: dict[str, Builder] = {
    "ae": _autoencoder(Autoencoder),
    "dae": _autoencoder(DenoisingAutoencoder),
    "sparse-l1": _autoencoder(SparseL1Autoencoder),
    "sparse-kl": _autoencoder(SparseKLAutoencoder),
    "vae": _autoencoder(VAE),
    "vqvae": _autoencoder(VQVAE),
    "embedder": build_embedder,
}


def as_model_config(model_config: ModelConfig | Mapping[str, Any]) -> ModelConfig:
    if isinstance(model_config, ModelConfig):
        return model_config
    return validate_section(ModelConfig, dict(model_config), "model")


def build_model(model_config: ModelConfig | Mapping[str, Any], dataset) -> RepresentationModel:
    """The model ``model_config.name`` for ``dataset`` (anything with ``image_shape``, and
    ``num_classes`` for metric learners). Parameters are initialised from torch's global RNG:
    seed it first (``reprlab.train`` does)."""
    cfg = as_model_config(model_config)
    return lookup(MODELS, cfg.name, "model")(cfg, dataset)
