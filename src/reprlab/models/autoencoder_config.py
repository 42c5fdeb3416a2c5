"""Config sections of the autoencoder families: ``model.noise`` (``dae``) and
``model.sparsity`` (``sparse-l1``, ``sparse-kl``); the models are in
`reprlab.models.autoencoder`."""

from pydantic import BaseModel, Field


class NoiseConfig(BaseModel, extra="forbid"):
    """Denoising autoencoder noise (seed 001): Gaussian, active in training only."""

    input_sigma: float = Field(0.25, ge=0, description="std of the noise added to the input")
    hidden_sigma: float = Field(0.0, ge=0, description="std of the noise after every block")


class SparsityConfig(BaseModel, extra="forbid"):
    """Sparsity penalties on the code z (the encoder's output), per image, averaged over the
    batch. ``sparse-l1``: weight * sum_j |z_j|. ``sparse-kl``: weight * sum_j KL(target ||
    rho_hat_j) with rho_hat_j the batch mean of sigmoid(z_j), clamped to [eps, 1 - eps]."""

    weight: float = Field(1e-3, ge=0, description="sparse-*: penalty weight")
    target: float = Field(0.05, gt=0, lt=1, description="rho, the target mean activation")
    eps: float = Field(1e-6, gt=0, lt=0.5, description="rho_hat is clamped to [eps, 1 - eps]")
