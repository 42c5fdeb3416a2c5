"""The ``model`` section of a run config: family, architecture, reconstruction objective, and
one typed sub-section per family that needs parameters of its own."""

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationInfo, field_validator


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class NoiseConfig(_Section):
    """Denoising autoencoder noise (seed 001): Gaussian, active in training only."""

    input_sigma: float = Field(0.25, ge=0, description="std of the noise added to the input")
    hidden_sigma: float = Field(0.0, ge=0, description="std of the noise after every block")


class SparsityConfig(_Section):
    """Sparsity penalties on the code z (the encoder's output), per image, averaged over the
    batch. ``sparse-l1``: weight * sum_j |z_j|. ``sparse-kl``: weight * sum_j KL(target ||
    rho_hat_j) with rho_hat_j the batch mean of sigmoid(z_j), clamped to [eps, 1 - eps]."""

    weight: float = Field(1e-3, ge=0)
    target: float = Field(0.05, gt=0, lt=1, description="rho, the target mean activation")
    eps: float = Field(1e-6, gt=0, lt=0.5, description="rho_hat is clamped to [eps, 1 - eps]")


class VAEConfig(_Section):
    """Gaussian posterior with standard-normal prior; ``beta`` weights the KL term."""

    beta: float = Field(1.0, ge=0)


class VQConfig(_Section):
    """Vector quantisation (van den Oord et al. 2017): ``codebook_size`` codes of the latent's
    channel size; ``commitment`` is beta of eq. 3; ``ema`` updates codes by moving averages;
    ``init='data'`` starts the codes at latent vectors of the first training batch."""

    codebook_size: int = Field(512, ge=2)
    commitment: float = Field(0.25, ge=0)
    ema: bool = False
    init: Literal["data", "uniform"] = "data"
    decay: float = Field(0.99, gt=0, lt=1)
    eps: float = Field(1e-5, gt=0)


class MetricConfig(_Section):
    """The ``embedder`` family: an embedding network trained by a metric-learning objective
    (Magnet, RepMet, triplet, proxy-anchor; seed 003). See ``reprlab.metric.model``.

    The backbone is ``model.arch`` (mlp, conv or resnet18); the other fields are those of
    ``reprlab.metric.model.EmbedderConfig``. K = ``clusters_per_class``,
    M = ``clusters_per_batch``, D = ``samples_per_cluster`` (seed 003: K=3, M=12, D=4 and a
    1 024-dimensional ResNet-18 embedding).
    """

    objective: Literal["magnet", "repmet", "triplet", "proxy-anchor"] = "magnet"
    embedding_dim: int = Field(64, ge=1)
    hidden: tuple[int, ...] = Field((256, 256), description="mlp backbone widths")
    channels: tuple[int, ...] = Field((32, 64, 128), description="conv backbone widths")
    pretrained: bool = Field(True, description="resnet18: ImageNet weights (else random init)")
    download: bool = Field(False, description="resnet18: download the weights if not cached")
    clusters_per_class: int = Field(3, ge=1, description="K: k-means clusters per class")
    clusters_per_batch: int = Field(12, ge=2, description="M: clusters in a Magnet batch")
    samples_per_cluster: int = Field(4, ge=1, description="D: examples per cluster in a batch")
    refresh_every: int = Field(100, ge=0, description="steps between k-means refreshes; 0 never")
    alpha: float = Field(1.0, description="Magnet's and RepMet's margin alpha")
    variance: Literal["paper", "tf-reference"] = "paper"
    repmet_version: Literal[1, 2, "hinge"] = 1
    sigma: float = Field(0.5, gt=0, description="RepMet's sigma")
    seed_representatives: bool = Field(True, description="RepMet: start at k-means centres")
    margin: float | None = Field(None, description="triplet (0.2) or proxy-anchor (0.1) margin")
    proxy_alpha: float = Field(32.0, description="proxy-anchor's scale alpha")
    proxy_lr_scale: float = Field(
        100.0, gt=0, description="proxy-anchor: the proxies' learning rate over the model's"
    )
    samples_per_class: int = Field(4, ge=1, description="class-balanced batches of baselines")
    seed: int | None = Field(None, description="None: derived from the run's seed")


class ModelConfig(_Section):
    """What to build. ``name`` is a key of ``reprlab.models.MODELS``.

    Architecture: ``arch`` is ``mlp`` or ``conv`` (and ``resnet18`` for the ``embedder``
    family, whose widths and embedding size are in its ``metric`` section); ``latent_dim``
    None means the architecture's default (mlp: 2 as in seed 004; conv: a spatial latent of
    ``channels[-1]`` maps at 4x4 or less, as in seed 001). ``output`` is the decoder's last
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
    arch: Literal["mlp", "conv", "resnet18"] = Field(
        "mlp", description="architecture; resnet18 (torchvision's ResNet-18 with its "
        "classifier replaced by the embedding layer) is the embedder's only"
    )  # fmt: skip
    latent_dim: int | None = Field(
        None, ge=1, description="latent size (none: mlp 2, conv a spatial latent of the last "
        "channels at 4x4)"
    )  # fmt: skip
    hidden: tuple[int, ...] = Field((128, 64, 12), description="mlp widths (seed 004)")
    channels: tuple[int, ...] | None = Field(
        None, description="conv widths, one stride-2 stage each; None: 64 until 4x4 (seed 001)"
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
        from reprlab.models.build import MODELS

        if name not in MODELS:
            raise ValueError(f"unknown model {name!r}; valid: {', '.join(MODELS)}")
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
