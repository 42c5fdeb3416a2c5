"""Model families: training makes progress, and every term matches its definition."""

import math
from types import SimpleNamespace

import pytest
import torch
from torch.distributions import Normal, kl_divergence

from reprlab.errors import ConfigError
from reprlab.losses import cauchy_loss
from reprlab.models import FAMILIES as ALL_FAMILIES
from reprlab.models import MODELS, Code, ModelConfig, build_model
from reprlab.models.autoencoder import kl_sparsity
from reprlab.models.vae import gaussian_kl
from reprlab.models.vqvae import perplexity

FAMILIES = ["ae", "dae", "sparse-l1", "sparse-kl", "vae", "vqvae"]


def _train(model, x, steps=40, lr=3e-3):
    opt = torch.optim.Adam(model.parameters(), lr=lr)
    losses = []
    for _ in range(steps):
        out = model.loss((x, None))
        opt.zero_grad()
        out.total.backward()
        opt.step()
        losses.append(float(out.total.detach()))
    return losses


@pytest.mark.parametrize("arch", ["mlp", "conv"])
@pytest.mark.parametrize("name", FAMILIES)
def test_every_family_trains_on_digits(name, arch, digits_batch, digits_shape):
    cfg = ModelConfig(
        name=name,
        arch=arch,
        channels=(16,),
        hidden=(64, 32),
        latent_dim=8 if arch == "mlp" else None,
    )
    model = build_model(cfg, digits_shape)
    losses = _train(model, digits_batch)
    assert all(math.isfinite(v) for v in losses)
    first, last = sum(losses[:5]) / 5, sum(losses[-5:]) / 5
    assert last < 0.9 * first, (name, arch, first, last)
    model.eval()
    emb = model.embed(digits_batch)
    assert emb.shape[0] == 64 and emb.dim() == 2
    assert model.decode(model.encode(digits_batch).z).shape == digits_batch.shape


def test_dae_noise_is_off_in_eval(digits_batch, digits_shape):
    cfg = ModelConfig(name="dae", noise={"input_sigma": 0.25, "hidden_sigma": 0.05})
    model = build_model(cfg, digits_shape)
    model.train()
    assert not torch.equal(model.embed(digits_batch), model.embed(digits_batch))
    model.eval()
    assert torch.equal(model.embed(digits_batch), model.embed(digits_batch))
    input_only = build_model(ModelConfig(name="dae"), digits_shape).eval()
    clean = build_model(ModelConfig(name="ae"), digits_shape).eval()
    clean.load_state_dict(input_only.state_dict())
    assert torch.equal(clean.embed(digits_batch), input_only.embed(digits_batch))


def test_vae_kl_equals_closed_form():
    mean, logvar = torch.randn(5, 7), torch.randn(5, 7)
    expected = kl_divergence(Normal(mean, (0.5 * logvar).exp()), Normal(0.0, 1.0)).sum(1)
    torch.testing.assert_close(gaussian_kl(mean, logvar), expected)
    assert torch.all(gaussian_kl(torch.zeros(3, 4), torch.zeros(3, 4)) == 0)


def test_vae_embeds_mean_and_samples_on_request(digits_batch, digits_shape):
    model = build_model(ModelConfig(name="vae"), digits_shape).eval()
    mean, _ = model.posterior(digits_batch)
    assert torch.equal(model.embed(digits_batch), mean)
    assert not torch.equal(model.embed(digits_batch, sample=True), mean)
    code = model.encode(digits_batch)
    assert torch.equal(code.z, code.mean) and code.logvar is not None


def test_vae_elbo_is_the_normal_log_likelihood_minus_kl(digits_batch, digits_shape):
    """nll-normal with a fixed scale s: log p(x|z) = sum -((x - mu)^2 / 2s^2 + log s + log
    sqrt(2 pi)), by hand from the same z."""
    s = 0.1
    cfg = ModelConfig(name="vae", loss="nll-normal", loss_params={"scale": s}, vae={"beta": 2.0})
    model = build_model(cfg, digits_shape)
    torch.manual_seed(5)
    out = model.loss((digits_batch, None))
    torch.manual_seed(5)
    mean, logvar = model.posterior(digits_batch)
    z = model.sample(mean, logvar)
    mu = model.decode(z)
    log_px = (
        (-((digits_batch - mu) ** 2) / (2 * s**2) - math.log(s) - 0.5 * math.log(2 * math.pi))
        .flatten(1)
        .sum(1)
    )
    kl = gaussian_kl(mean, logvar)
    torch.testing.assert_close(out.terms["elbo"], (log_px - kl).mean(), rtol=1e-5, atol=1e-3)
    torch.testing.assert_close(out.terms["kl"], kl.mean().detach())
    torch.testing.assert_close(out.total, (-log_px + 2.0 * kl).mean(), rtol=1e-5, atol=1e-3)


def test_tanh_output_works_in_minus_one_one_and_corrects_the_elbo(digits_batch, digits_shape):
    """Seed 004's tanh: the loss compares in [-1, 1]; decode returns [0, 1]; the ELBO gains the
    change-of-variables term D log 2 so it stays a density of images in [0, 1]."""
    cfg = ModelConfig(name="vae", output="tanh", loss="nll-normal", loss_params={"scale": 0.2})
    model = build_model(cfg, digits_shape)
    torch.manual_seed(1)
    out = model.loss(digits_batch)
    torch.manual_seed(1)
    mean, logvar = model.posterior(digits_batch)
    mu_data = model.decoder_mean(model.sample(mean, logvar))
    assert model.decode(model.sample(mean, logvar)).min() >= 0
    target = 2 * digits_batch - 1
    log_p_data = Normal(mu_data, 0.2).log_prob(target).flatten(1).sum(1)
    expected = (log_p_data + 64 * math.log(2) - gaussian_kl(mean, logvar)).mean()
    torch.testing.assert_close(out.terms["elbo"], expected, rtol=1e-5, atol=1e-3)


@pytest.mark.parametrize(
    "loss, params",
    [
        ("mse", {}),
        ("cauchy", {"scale": 0.1}),
        ("general", {"alpha": 1.5, "scale": 0.1}),
        ("adaptive", {}),
        ("adaptive-image", {"representation": "dct"}),
        ("nll-normal", {}),
        ("nll-cauchy", {}),
        ("nll-student-t", {}),
        ("nll-general", {}),
        ("nll-general", {"representation": "cdf97"}),
    ],
)
def test_each_objective_through_a_vae(loss, params, digits_batch, digits_shape):
    cfg = ModelConfig(name="vae", loss=loss, loss_params=params)
    model = build_model(cfg, digits_shape)
    out = model.loss(digits_batch)
    out.total.backward()
    assert math.isfinite(float(out.total.detach()))
    if loss.startswith(("nll", "adaptive")):
        assert math.isfinite(float(out.terms["elbo"]))
        # the distribution's parameters train with the model
        own = [p for n, p in model.named_parameters() if n.startswith("reconstruction.")]
        if "scale" not in params:
            assert own and all(p.grad is not None for p in own)
    else:
        assert "elbo" not in out.terms


def test_per_image_robust_loss_is_rho_of_the_residual_norm(digits_batch, digits_shape):
    cfg = ModelConfig(
        name="ae", loss="cauchy", loss_params={"scale": 0.5}, robust_over="image", reduction="sum"
    )
    model = build_model(cfg, digits_shape)
    out = model.loss(digits_batch)
    residual = (model.reconstruct(digits_batch) - digits_batch).flatten(1)
    norm_sq = residual.pow(2).sum(1)
    expected = torch.log(norm_sq / 0.5**2 / 2 + 1).mean()  # Cauchy rho(||r||, 0, c)
    torch.testing.assert_close(out.total, expected)
    torch.testing.assert_close(
        out.total, cauchy_loss(residual.norm(dim=1), scale=0.5, reduction="mean")
    )


def test_mean_reduction_divides_by_pixels(digits_batch, digits_shape):
    torch.manual_seed(0)
    mean_model = build_model(ModelConfig(name="ae", reduction="mean"), digits_shape)
    torch.manual_seed(0)
    sum_model = build_model(ModelConfig(name="ae", reduction="sum"), digits_shape)
    a, b = mean_model.loss(digits_batch).total, sum_model.loss(digits_batch).total
    torch.testing.assert_close(a * 64, b)
    torch.testing.assert_close(
        a, torch.nn.functional.mse_loss(mean_model.reconstruct(digits_batch), digits_batch)
    )


def test_sparse_penalties_match_their_definitions(digits_batch, digits_shape):
    cfg = ModelConfig(name="sparse-l1", sparsity={"weight": 0.3})
    model = build_model(cfg, digits_shape)
    z = model.encode(digits_batch).z
    torch.testing.assert_close(model.penalty(Code(z))["sparsity"], 0.3 * z.abs().sum() / 64)
    z = torch.randn(10, 4)
    rho = 0.1
    rho_hat = torch.sigmoid(z).mean(0)  # over the BATCH
    by_hand = sum(
        rho * math.log(rho / r) + (1 - rho) * math.log((1 - rho) / (1 - r))
        for r in rho_hat.tolist()
    )
    assert float(kl_sparsity(z, rho, 1e-6)) == pytest.approx(by_hand, rel=1e-5)
    saturated = kl_sparsity(torch.full((3, 2), 1e4), rho, 1e-3)
    assert math.isfinite(float(saturated))  # rho_hat clamped away from 1


def test_vq_straight_through_reaches_the_encoder(digits_batch, digits_shape):
    cfg = ModelConfig(name="vqvae", arch="conv", channels=(8,), vq={"codebook_size": 16})
    model = build_model(cfg, digits_shape)
    out = model.loss(digits_batch)
    out.total.backward()
    enc = [p.grad for p in model.encoder.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in enc)
    assert model.quantizer.codebook.grad.abs().sum() > 0
    assert 0 < float(out.terms["usage"]) <= 1
    assert 1 <= float(out.terms["perplexity"]) <= 16


def test_vq_picks_the_nearest_code_and_ema_moves_codes(digits_shape):
    cfg = ModelConfig(
        name="vqvae",
        arch="conv",
        channels=(4,),
        latent_ratio=None,
        vq={"codebook_size": 8, "ema": True},
    )
    model = build_model(cfg, digits_shape)
    q = model.quantizer
    q(torch.randn(5, 4, 2, 2))  # training mode: codes start at these vectors, then move
    assert bool(q.initialized)
    q.eval()
    z = torch.randn(3, 4, 2, 2)
    z_q, indices, counts = q(z)
    flat = z.movedim(1, -1).reshape(-1, 4)
    brute = torch.cdist(flat, q.codebook).argmin(1)
    assert torch.equal(indices.flatten(), brute)
    torch.testing.assert_close(z_q.movedim(1, -1).reshape(-1, 4), q.codebook[brute])
    assert int(counts.sum()) == 12
    before = q.codebook.clone()
    q(z)
    assert torch.equal(q.codebook, before)  # no update in eval mode
    q.train()
    q(z)
    assert not torch.equal(q.codebook, before)
    assert not isinstance(q.codebook, torch.nn.Parameter)


def test_perplexity_closed_forms():
    assert float(perplexity(torch.tensor([5.0, 0, 0]))) == pytest.approx(1.0)
    assert float(perplexity(torch.tensor([2.0, 2, 2, 2]))) == pytest.approx(4.0)


def test_registry_and_config_errors(digits_shape):
    assert set(FAMILIES) <= set(MODELS)
    with pytest.raises(ConfigError, match="unknown model 'vea'; valid: ae, dae"):
        build_model({"name": "vea"}, digits_shape)
    with pytest.raises(ConfigError, match="nll-normal"):
        build_model({"name": "ae", "loss": "nope"}, digits_shape)
    with pytest.raises(ConfigError, match="scale"):
        build_model({"name": "ae", "loss": "cauchy", "loss_params": {"scael": 1}}, digits_shape)
    with pytest.raises(ConfigError, match="robust_over"):
        build_model({"name": "vae", "loss": "nll-normal", "robust_over": "image"}, digits_shape)
    with pytest.raises(ConfigError, match="arch"):
        build_model({"name": "ae", "arch": "transformer"}, digits_shape)


def test_the_registry_builds_exactly_the_families_the_config_accepts():
    assert tuple(MODELS) == ALL_FAMILIES


#: has_decoder, has_posterior, has_prior of each family
CAPABILITIES = {
    "ae": (True, False, False),
    "dae": (True, False, False),
    "sparse-l1": (True, False, False),
    "sparse-kl": (True, False, False),
    "vae": (True, True, True),
    "vqvae": (True, False, False),
    "embedder": (False, False, False),
}


@pytest.mark.parametrize("name", ALL_FAMILIES)
def test_capability_flags_are_declared_and_true(name, digits_batch):
    dataset = SimpleNamespace(image_shape=(1, 8, 8), num_classes=10)
    model = build_model(ModelConfig(name=name), dataset).eval()
    cls = type(model)
    assert (cls.has_decoder, cls.has_posterior, cls.has_prior) == CAPABILITIES[name]
    code = model.encode(digits_batch)
    if cls.has_decoder:
        assert model.decode(code.z).shape == digits_batch.shape
    else:
        with pytest.raises(NotImplementedError):
            model.decode(code.z)
    has_gaussian = code.mean is not None and code.logvar is not None
    assert has_gaussian == cls.has_posterior
    if cls.has_prior:
        draws = model.sample_prior(5, torch.Generator().manual_seed(3))
        dim = code.z.flatten(1).shape[1]
        expected = torch.randn(5, dim, generator=torch.Generator().manual_seed(3))
        assert torch.equal(draws, expected)  # standard normal prior
        assert model.decode(draws).shape == (5, *digits_batch.shape[1:])
    else:
        with pytest.raises(NotImplementedError):
            model.sample_prior(5)
