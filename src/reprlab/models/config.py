"""The ``model`` section of a run config: family, architecture, reconstruction objective, and
one typed sub-section per family that needs parameters of its own (each defined beside its
family, in ``<family>_config.py``)."""

from typing import Any, Literal, TypeVar

from pydantic import BaseModel, Field, ValidationError, ValidationInfo, field_validator

from reprlab.errors import ConfigError
from reprlab.models.autoencoder_config import NoiseConfig, SparsityConfig
from reprlab.models.embedder_config import MetricConfig
from reprlab.models.vae_config import VAEConfig
from reprlab.models.vqvae_config import VQConfig

Section = TypeVar("Section", bound=BaseModel)

#: the model families, the keys of ``reprlab.models.MODELS`` (which builds them)
FAMILIES = ("ae", "dae", "sparse-l1", "sparse-kl", "vae", "vqvae", "embedder")


class ModelConfig(BaseModel, extra="forbid"):
    """What to build. ``name`` is one of `FAMILIES`.

    Architecture: ``arch`` is ``mlp``, ``conv`` or ``celeba-vae`` (seed 002's VAE; see
    `reprlab.models.architectures`), and ``resnet18`` for the ``embedder`` family, whose
    widths and embedding size are in its ``metric`` section; ``latent_dim``
    None means the architecture's default (mlp: 2 as in seed 004; conv: a spatial latent at
    4x4 or less holding ``latent_ratio`` = 4 times fewer values than the image, as in seed 001:
    64 maps of 4x4 for 64x64 images). ``output`` is the decoder's last
    activation: ``sigmoid`` for images in [0, 1]; ``tanh`` models images scaled to [-1, 1] as
    in seed 004 (the model maps x to 2x - 1 on the way in, the loss compares in [-1, 1], and
    ``decode`` returns (tanh + 1) / 2); ``linear`` leaves the output unbounded.

    Reconstruction: ``loss`` is a name from ``reprlab.models.reconstruction.OBJECTIVES`` or any
    ``reprlab.losses`` loss; ``loss_params`` are its keyword arguments (alpha, scale, ...).
    ``robust_over='image'`` applies a robust loss to each image's residual norm (seed 000)
    instead of each pixel. ``reduction`` sums the per-pixel loss over the image (``sum``) or
    averages it (``mean``); ``auto`` is ``sum`` for the VAE (so the objective is an ELBO)
    and ``mean`` otherwise (as ``nn.MSELoss`` in seeds 001 and 004).
    """

    name: str = Field(
        "ae", description="model family (embedder when a metric-learning option is given)"
    )
    arch: Literal["mlp", "conv", "celeba-vae", "resnet18"] = Field(
        "mlp", description="architecture; celeba-vae is seed 002's VAE; resnet18 "
        "(torchvision's ResNet-18 with its classifier replaced by the embedding layer) is the "
        "embedder's only"
    )  # fmt: skip
    latent_dim: int | None = Field(
        None, ge=1, description="latent size (none: mlp 2, conv a spatial latent at 4x4 with "
        "latent_ratio times fewer values than the image, celeba-vae 16)"
    )  # fmt: skip
    hidden: tuple[int, ...] = Field((128, 64, 12), description="mlp widths (seed 004)")
    channels: tuple[int, ...] | None = Field(
        None, description="conv widths, one stride-2 stage each; None: 64 until 4x4 (seed 001)"
    )
    latent_ratio: float | None = Field(
        4.0,
        gt=0,
        description="conv spatial latent: image values / latent values (seed 001: 4); "
        "None: the last stage's width in maps",
    )
    activation: Literal["relu", "linear", "leaky_relu", "elu", "gelu", "silu", "tanh"] = Field(
        "relu", description="hidden activation"
    )
    batch_norm: bool = Field(False, description="batch normalisation after each hidden layer")
    output: Literal["sigmoid", "tanh", "linear"] = Field(
        "sigmoid", description="decoder output (sigmoid: images in [0,1]; tanh: images scaled "
        "to [-1,1], seed 004)"
    )  # fmt: skip
    loss: str = Field(
        "mse", description="reconstruction objective: a robust loss (mse, l1, charbonnier, "
        "cauchy, geman_mcclure, welsch, huber, smooth_l1, general), adaptive, adaptive-image, "
        "or a decoder likelihood (nll-normal, nll-cauchy, nll-student-t, nll-general)"
    )  # fmt: skip
    loss_params: dict[str, Any] = Field(
        default_factory=dict, description="the loss's keyword arguments (alpha, scale, ...)"
    )
    robust_over: Literal["pixel", "image"] = Field(
        "pixel", description="the loss per pixel, or of each image's residual norm (seed 000)"
    )
    reduction: Literal["auto", "sum", "mean"] = Field(
        "auto", description="sum or mean over an image's pixels (auto: sum for vae, mean "
        "otherwise)"
    )  # fmt: skip
    noise: NoiseConfig = Field(default_factory=NoiseConfig)
    sparsity: SparsityConfig = Field(default_factory=SparsityConfig)
    vae: VAEConfig = Field(default_factory=VAEConfig)
    vq: VQConfig = Field(default_factory=VQConfig)
    metric: MetricConfig = Field(default_factory=MetricConfig)

    @field_validator("name")
    @classmethod
    def _known_family(cls, name: str) -> str:
        if name not in FAMILIES:
            raise ValueError(f"unknown model {name!r}; valid: {', '.join(FAMILIES)}")
        return name

    @field_validator("arch", "latent_dim", "hidden", "channels")
    @classmethod
    def _fits_family(cls, value, info: ValidationInfo):
        name = info.data.get("name")
        if info.field_name == "arch":
            if value == "resnet18" and name is not None and name != "embedder":
                raise ValueError(
                    f"'resnet18' is a backbone of the metric-learning model 'embedder'; model "
                    f"{name!r} takes 'mlp' or 'conv'"
                )
            return value
        default = cls.model_fields[info.field_name].default
        if name == "embedder" and value != default:
            raise ValueError(
                f"the embedder reads metric.{_EMBEDDER_KEYS[info.field_name]} instead; "
                f"leave model.{info.field_name} at its default"
            )
        return value


_EMBEDDER_KEYS = {"latent_dim": "embedding_dim", "hidden": "hidden", "channels": "channels"}


def validate_section(cls: type[Section], raw: dict[str, Any], kind: str) -> Section:
    """``cls.model_validate(raw)`` whose error is one `ConfigError` line naming the key."""
    try:
        return cls.model_validate(raw)
    except ValidationError as error:
        first = error.errors()[0]
        loc = ".".join(str(p) for p in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise ConfigError(f"{kind} config key {loc!r}: {message}") from None
