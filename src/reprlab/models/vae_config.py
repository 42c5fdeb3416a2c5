"""Config section of the ``vae`` family, ``model.vae``; the model is `reprlab.models.vae.VAE`."""

from typing import Literal

from pydantic import BaseModel, Field, model_validator


class VAEConfig(BaseModel, extra="forbid"):
    """Gaussian posterior; ``beta`` weights the KL term.

    ``prior``: ``normal`` (N(0, I)) or ``mixture``, a learned mixture of ``components``
    diagonal Gaussians (TensorFlow Probability's VAE example, used by Barron 2019's VAE
    experiment: 100 components). ``kl``: ``analytic`` (closed form, normal prior only) or
    ``sampled``, the single-sample estimate log q(z|x) - log p(z) at the posterior sample.
    """

    beta: float = Field(1.0, ge=0, description="vae: weight of the KL term")
    prior: Literal["normal", "mixture"] = Field(
        "normal", description="vae: the prior, N(0, I) or a learned mixture of Gaussians"
    )
    components: int = Field(100, ge=1, description="mixture prior: number of Gaussians")
    kl: Literal["analytic", "sampled"] = Field(
        "analytic", description="vae: closed-form KL or the single-sample estimate"
    )

    @model_validator(mode="after")
    def _kl_fits_prior(self) -> "VAEConfig":
        if self.prior == "mixture" and self.kl == "analytic":
            raise ValueError("a mixture prior has no closed-form KL; set model.vae.kl: sampled")
        return self
