"""Variational autoencoder (Kingma and Welling, "Auto-Encoding Variational Bayes", 2014):
Gaussian posterior q(z|x) = N(mean, diag exp(logvar)), standard normal prior, reparameterised
samples z = mean + exp(logvar / 2) * eps with eps ~ N(0, I)."""

import math

import torch
from torch import Tensor

from reprlab.models.autoencoder import Autoencoder, images_of
from reprlab.models.base import Code, LossOutput
from reprlab.models.config import ModelConfig


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per image, summed over latent dimensions:
    1/2 sum(mean^2 + exp(logvar) - 1 - logvar) (Kingma and Welling 2014, appendix B)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1)


class VAE(Autoencoder):
    """Minimises rec + beta * KL, the KL term always included whatever the reconstruction
    objective. When that objective is a normalised likelihood (``nll-*``, ``adaptive``,
    ``adaptive-image``), the ``elbo`` term is the single-sample ELBO in nats per image,
    log p(x|z) - KL, in the space of images in [0, 1]."""

    code_multiplier = 2
    default_reduction = "sum"
    has_posterior = True
    has_prior = True

    def __init__(self, cfg: ModelConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(cfg, image_shape)
        self.beta = cfg.vae.beta

    def posterior(self, x: Tensor) -> tuple[Tensor, Tensor]:
        return self.posterior_data(self.to_data(x))

    def posterior_data(self, data: Tensor) -> tuple[Tensor, Tensor]:
        mean, logvar = self.encoder(data).chunk(2, dim=1)
        return mean, logvar

    @staticmethod
    def sample(mean: Tensor, logvar: Tensor) -> Tensor:
        return mean + torch.exp(0.5 * logvar) * torch.randn_like(mean)

    def encode(self, x: Tensor) -> Code:
        """``z`` is a posterior sample in training mode and the posterior mean in eval mode."""
        mean, logvar = self.posterior(x)
        z = self.sample(mean, logvar) if self.training else mean
        return Code(z=z, mean=mean, logvar=logvar)

    def embed(self, x: Tensor, sample: bool = False) -> Tensor:
        """The posterior mean, or a posterior sample when ``sample`` (seed 000)."""
        mean, logvar = self.posterior(x)
        return (self.sample(mean, logvar) if sample else mean).flatten(1)

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` codes from the standard normal prior N(0, I), flat [n, D]."""
        return torch.randn(n, math.prod(self.latent_shape), generator=generator)

    def loss(self, batch) -> LossOutput:
        """Always samples z, so the loss in eval mode is the same single-sample estimate."""
        data = self.to_data(images_of(batch))
        mean, logvar = self.posterior_data(data)
        z = self.sample(mean, logvar)
        rec_image = self.reconstruction_per_image(z, data)
        kl = gaussian_kl(mean, logvar)
        rec = rec_image.mean() / self.rec_divisor
        total = rec + self.beta * kl.mean()
        terms = {"reconstruction": rec.detach(), "kl": kl.mean().detach()}
        if self.reconstruction.likelihood:
            log_px = -(rec_image.detach() - self.data_log_det)
            terms["elbo"] = (log_px - kl.detach()).mean()
        return LossOutput(total, terms)
