"""Config section of the ``vae`` family, ``model.vae``; the model is `reprlab.models.vae.VAE`."""

from pydantic import BaseModel, Field


class VAEConfig(BaseModel, extra="forbid"):
    """Gaussian posterior with standard-normal prior; ``beta`` weights the KL term."""

    beta: float = Field(1.0, ge=0)
