"""Variational autoencoder (Kingma and Welling, "Auto-Encoding Variational Bayes", 2014):
Gaussian posterior q(z|x) = N(mean, diag exp(logvar)), reparameterised samples
z = mean + exp(logvar / 2) * eps with eps ~ N(0, I), and a standard normal prior or a learned
mixture of Gaussians (``model.vae.prior``; TensorFlow Probability's VAE example, used by
Barron 2019's VAE experiment)."""

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from reprlab.models.autoencoder import Autoencoder, images_of
from reprlab.models.base import Code, LossOutput
from reprlab.models.config import ModelConfig


def gaussian_kl(mean: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mean, exp(logvar)) || N(0, I)) per image, summed over latent dimensions:
    1/2 sum(mean^2 + exp(logvar) - 1 - logvar) (Kingma and Welling 2014, appendix B)."""
    return 0.5 * (mean.pow(2) + logvar.exp() - 1 - logvar).flatten(1).sum(1)


LOG_2PI = math.log(2 * math.pi)


def gaussian_log_prob(z: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
    """log N(z; mean, diag exp(logvar)) per image, summed over latent dimensions."""
    return -0.5 * (LOG_2PI + logvar + (z - mean).pow(2) / logvar.exp()).flatten(1).sum(1)


class MixturePrior(nn.Module):
    """p(z) = sum_k pi_k N(z; loc_k, diag scale_k^2) with pi = softmax(logits) and scale =
    softplus(raw_scale), all learned (TensorFlow Probability's VAE example,
    ``make_mixture_prior``). ``loc`` and ``raw_scale`` start Glorot-uniform, as TF's
    ``get_variable`` default, the logits at 0."""

    def __init__(self, components: int, dim: int) -> None:
        super().__init__()
        self.loc = nn.Parameter(nn.init.xavier_uniform_(torch.empty(components, dim)))
        self.raw_scale = nn.Parameter(nn.init.xavier_uniform_(torch.empty(components, dim)))
        self.logits = nn.Parameter(torch.zeros(components))

    def scale(self) -> Tensor:
        return F.softplus(self.raw_scale)

    def log_prob(self, z: Tensor) -> Tensor:
        """log p(z) of flat codes [N, D], [N]."""
        scale = self.scale()
        per_component = -0.5 * (
            LOG_2PI + 2 * scale.log() + ((z[:, None, :] - self.loc) / scale).pow(2)
        ).sum(-1)  # [N, K]
        return torch.logsumexp(F.log_softmax(self.logits, 0) + per_component, dim=1)

    @torch.no_grad()
    def sample(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` codes [n, D]: a component drawn by its weight, then its Gaussian."""
        weights = torch.softmax(self.logits.detach().cpu(), 0)
        k = torch.multinomial(weights, n, replacement=True, generator=generator)
        eps = torch.randn(n, self.loc.shape[1], generator=generator)
        return self.loc.detach().cpu()[k] + self.scale().detach().cpu()[k] * eps


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
        self.sampled_kl = cfg.vae.kl == "sampled"
        dim = math.prod(self.latent_shape)
        self.prior = MixturePrior(cfg.vae.components, dim) if cfg.vae.prior == "mixture" else None

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
        """``n`` codes from the prior (N(0, I) or the learned mixture), flat [n, D]."""
        if self.prior is not None:
            return self.prior.sample(n, generator)
        return torch.randn(n, math.prod(self.latent_shape), generator=generator)

    def prior_log_prob(self, z: Tensor) -> Tensor:
        """log p(z) per image, [N]."""
        if self.prior is not None:
            return self.prior.log_prob(z.flatten(1))
        return gaussian_log_prob(z, torch.zeros_like(z), torch.zeros_like(z))

    def kl(self, z: Tensor, mean: Tensor, logvar: Tensor) -> Tensor:
        """KL(q(z|x) || p(z)) per image: closed form, or with ``kl='sampled'`` the
        single-sample estimate log q(z|x) - log p(z) at the posterior sample ``z``."""
        if not self.sampled_kl:
            return gaussian_kl(mean, logvar)
        return gaussian_log_prob(z, mean, logvar) - self.prior_log_prob(z)

    def loss(self, batch) -> LossOutput:
        """Always samples z, so the loss in eval mode is the same single-sample estimate."""
        data = self.to_data(images_of(batch))
        mean, logvar = self.posterior_data(data)
        z = self.sample(mean, logvar)
        rec_image = self.reconstruction_per_image(z, data)
        kl = self.kl(z, mean, logvar)
        rec = rec_image.mean() / self.rec_divisor
        total = rec + self.beta * kl.mean()
        terms = {"reconstruction": rec.detach(), "kl": kl.mean().detach()}
        if self.reconstruction.likelihood:
            log_px = -(rec_image.detach() - self.data_log_det)
            terms["elbo"] = (log_px - kl.detach()).mean()
        return LossOutput(total, terms)
