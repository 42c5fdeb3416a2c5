"""Config section of the ``vqvae`` family, ``model.vq``; the model is
`reprlab.models.vqvae.VQVAE`."""

from typing import Literal

from pydantic import BaseModel, Field


class VQConfig(BaseModel, extra="forbid"):
    """Vector quantisation (van den Oord et al. 2017): ``codebook_size`` codes of the latent's
    channel size; ``commitment`` is beta of eq. 3; ``ema`` updates codes by moving averages;
    ``init='data'`` starts the codes at latent vectors of the first training batch."""

    codebook_size: int = Field(512, ge=2, description="vqvae: number of codes")
    commitment: float = Field(0.25, ge=0, description="vqvae: commitment weight (beta of eq. 3)")
    ema: bool = Field(False, description="vqvae: update the codebook by moving averages")
    init: Literal["data", "uniform"] = "data"
    decay: float = Field(0.99, gt=0, lt=1)
    eps: float = Field(1e-5, gt=0)
