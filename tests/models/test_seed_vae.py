"""Seed 002's VAE (Barron 2019, VAE experiment): the celeba-vae layout, the learned mixture
prior against torch.distributions, and the sampled KL against the closed form."""

import pytest
import torch
from torch import distributions as D
from torch import nn

from reprlab.errors import ConfigError
from reprlab.models import ModelConfig, build_model
from reprlab.models.architectures import build_architecture
from reprlab.models.build import as_model_config
from reprlab.models.vae import MixturePrior, gaussian_kl


class _Shape:
    def __init__(self, image_shape):
        self.image_shape, self.num_classes = image_shape, 2


def test_celeba_vae_layout_at_64_pixels():
    arch = build_architecture(ModelConfig(arch="celeba-vae"), (3, 64, 64), code_multiplier=2)
    convs = [m for m in arch.encoder.modules() if isinstance(m, nn.Conv2d)]
    assert [(m.out_channels, m.kernel_size, m.stride) for m in convs] == [
        (d, (5, 5), (2, 2))
        for d in (32, 32, 64, 64, 128, 64)  # 4 x latent 16
    ]
    assert sum(isinstance(m, nn.LeakyReLU) for m in arch.encoder.modules()) == 6
    (dense,) = [m for m in arch.encoder.modules() if isinstance(m, nn.Linear)]
    assert (dense.in_features, dense.out_features) == (64, 32) and arch.latent_shape == (16,)
    deconvs = [m for m in arch.decoder.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert len(deconvs) == 6 and all(m.kernel_size == (5, 5) for m in deconvs)
    last = arch.decoder[-1]
    assert isinstance(last, nn.Conv2d) and (last.out_channels, last.kernel_size) == (3, (5, 5))
    x = torch.rand(2, 3, 64, 64)
    mean, _ = arch.encoder(x).chunk(2, dim=1)
    assert arch.decoder(mean).shape == x.shape


@pytest.mark.parametrize("shape", [(1, 28, 28), (3, 32, 32), (3, 128, 128)])
def test_celeba_vae_fits_other_sizes(shape):
    arch = build_architecture(ModelConfig(arch="celeba-vae", latent_dim=8), shape)
    x = torch.rand(2, *shape)
    assert arch.decoder(arch.encoder(x)).shape == x.shape


def test_mixture_prior_matches_torch_distributions():
    torch.manual_seed(0)
    prior = MixturePrior(5, 3)
    with torch.no_grad():
        prior.logits.copy_(torch.randn(5))
    reference = D.MixtureSameFamily(
        D.Categorical(logits=prior.logits),
        D.Independent(D.Normal(prior.loc, nn.functional.softplus(prior.raw_scale)), 1),
    )
    z = torch.randn(7, 3)
    torch.testing.assert_close(prior.log_prob(z), reference.log_prob(z))
    samples = prior.sample(200_000, torch.Generator().manual_seed(1))
    torch.testing.assert_close(samples.mean(0), reference.mean.detach(), atol=0.02, rtol=0)
    torch.testing.assert_close(samples.var(0), reference.variance.detach(), atol=0.03, rtol=0)


def test_sampled_kl_is_unbiased_for_the_normal_prior():
    cfg = ModelConfig(name="vae", arch="mlp", hidden=(8,), latent_dim=3, vae={"kl": "sampled"})
    model = build_model(cfg, _Shape((1, 4, 4)))
    mean, logvar = torch.randn(1, 3), torch.randn(1, 3) * 0.3
    torch.manual_seed(0)
    z = model.sample(mean.expand(200_000, 3), logvar.expand(200_000, 3))
    estimate = model.kl(z, mean.expand_as(z), logvar.expand_as(z)).mean()
    assert float(estimate) == pytest.approx(float(gaussian_kl(mean, logvar)), abs=0.02)


def test_mixture_prior_vae_trains_and_samples():
    cfg = ModelConfig(
        name="vae", arch="celeba-vae", loss="nll-normal", loss_params={"scale_init": 0.01},
        vae={"prior": "mixture", "kl": "sampled"},
    )  # fmt: skip
    model = build_model(cfg, _Shape((3, 16, 16)))
    assert model.prior.loc.shape == (100, 16)
    out = model.loss(torch.rand(4, 3, 16, 16))
    out.total.backward()
    assert model.prior.loc.grad is not None and torch.isfinite(out.terms["elbo"])
    assert model.sample_prior(5).shape == (5, 16)
    with pytest.raises(ConfigError, match="kl: sampled"):
        as_model_config({"name": "vae", "vae": {"prior": "mixture"}})
