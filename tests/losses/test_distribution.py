"""log Z table, NLL and sampling against closed forms, fresh quadrature and scipy."""

import math
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy import integrate, stats

from reprlab.errors import ConfigError
from reprlab.losses import general_loss, log_partition, nll, sample

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
import make_partition_table as table_script

PUBLISHED = {
    0.0: math.pi * math.sqrt(2),
    0.5: 3.638993131,
    1.0: 3.272306973,
    1.5: 2.965924889,
    2.0: math.sqrt(2 * math.pi),
    3.0: 2.153202857,
    4.0: 2.101960916,
    8.0: 2.054500222,
}


def test_published_values():
    alphas = torch.tensor(list(PUBLISHED), dtype=torch.float64)
    z = log_partition(alphas).exp()
    torch.testing.assert_close(
        z, torch.tensor(list(PUBLISHED.values()), dtype=torch.float64), rtol=0, atol=1e-7
    )
    assert abs(log_partition(math.inf).item() - 0.70526025442) < 1e-7
    assert log_partition(torch.tensor(math.inf, dtype=torch.float64)).item() == pytest.approx(
        0.70526025442, abs=1e-9
    )


def test_off_knot_values_against_fresh_quadrature():
    rng = np.random.default_rng(3)
    alphas = np.concatenate([rng.uniform(0, 8, 6), [1e-4, 1.9999, 2.0003, 37.0, 1e4]])
    got = log_partition(torch.tensor(alphas, dtype=torch.float64)).numpy()
    for a, value in zip(alphas, got):
        assert value == pytest.approx(table_script.log_z(float(a)), abs=1e-7), a


def test_derivative_matches_quadrature_and_is_finite():
    for a in (0.0, 0.3, 1.0, 3.0, 20.0):
        alpha = torch.tensor(a, dtype=torch.float64, requires_grad=True)
        log_partition(alpha).backward()
        if a > 0:
            assert alpha.grad.item() == pytest.approx(table_script.dlog_z(a), rel=1e-5, abs=1e-7)
    alpha = torch.tensor([2.0, math.inf], dtype=torch.float64, requires_grad=True)
    log_partition(alpha).sum().backward()
    assert torch.isfinite(alpha.grad).all()
    assert torch.autograd.gradcheck(
        log_partition, torch.tensor([0.2, 1.1, 5.0], dtype=torch.float64, requires_grad=True)
    )


def test_negative_alpha_is_an_error():
    for bad in (-0.1, -math.inf, math.nan):
        with pytest.raises(ConfigError, match="alpha must be >= 0"):
            log_partition(bad)
    with pytest.raises(ConfigError):
        nll(torch.zeros(3), -1.0, 1.0)
    with pytest.raises(ConfigError):
        sample(-2.0, 1.0, (4,))


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0, 2.0, 3.5, 10.0, math.inf])
def test_density_integrates_to_one(alpha):
    scale = 0.7

    def density(x):
        return math.exp(-nll(torch.tensor(x, dtype=torch.float64), alpha, scale).item())

    total = sum(
        integrate.quad(density, lo, hi, limit=200)[0]
        for lo, hi in [(-math.inf, -5), (-5, 0), (0, 5), (5, math.inf)]
    )
    assert total == pytest.approx(1.0, abs=1e-4)


def test_nll_matches_scipy_cauchy_and_normal():
    x = torch.linspace(-20, 20, 101, dtype=torch.float64)
    for c in (0.3, 1.0, 4.0):
        cauchy = -stats.cauchy.logpdf(x.numpy(), scale=c * math.sqrt(2))
        normal = -stats.norm.logpdf(x.numpy(), scale=c)
        np.testing.assert_allclose(nll(x, 0.0, c).numpy(), cauchy, rtol=1e-12)
        np.testing.assert_allclose(nll(x, 2.0, c).numpy(), normal, rtol=1e-12)
    assert nll(x, 1.0, 1.0, reduction="mean").item() == pytest.approx(
        nll(x, 1.0, 1.0).mean().item()
    )


@pytest.mark.parametrize("alpha", [0.0, 0.7, 2.0, 4.0, math.inf])
def test_samples_pass_kolmogorov_smirnov(alpha):
    scale = 1.5
    draws = sample(alpha, scale, (4000,), generator=torch.Generator().manual_seed(11)).double()
    grid = np.linspace(-60, 60, 24001)
    pdf = np.exp(-nll(torch.tensor(grid), alpha, scale).numpy())
    cdf = np.concatenate([[0], np.cumsum((pdf[1:] + pdf[:-1]) / 2 * np.diff(grid))])
    tail = stats.cauchy.cdf(-60, scale=scale * math.sqrt(2)) if alpha == 0 else 0.0
    cdf = tail + cdf * (1 - 2 * tail) / cdf[-1]

    def model_cdf(v):
        return np.interp(v, grid, cdf, left=tail, right=1 - tail)

    assert stats.kstest(draws.numpy(), model_cdf).pvalue > 0.01
    if alpha in (0.0, 2.0):  # and against scipy directly
        dist = stats.cauchy(scale=scale * math.sqrt(2)) if alpha == 0 else stats.norm(scale=scale)
        assert stats.kstest(draws.numpy(), dist.cdf).pvalue > 0.01


def test_sample_is_seeded_and_broadcasts():
    a = sample(1.0, 2.0, (100,), generator=torch.Generator().manual_seed(5))
    b = sample(1.0, 2.0, (100,), generator=torch.Generator().manual_seed(5))
    assert torch.equal(a, b)
    alpha = torch.tensor([0.0, 2.0], dtype=torch.float64)
    draws = sample(alpha, torch.tensor([1.0, 3.0]), (5000, 2), torch.Generator().manual_seed(0))
    assert draws.shape == (5000, 2) and draws.dtype == torch.float64
    assert draws[:, 1].std().item() == pytest.approx(3.0, rel=0.05)
    assert sample(torch.full((3,), 1.0), 1.0).shape == (3,)


def test_table_script_matches_closed_forms():
    assert math.exp(table_script.log_z(0.0)) == pytest.approx(math.pi * math.sqrt(2), abs=1e-12)
    assert math.exp(table_script.log_z(2.0)) == pytest.approx(math.sqrt(2 * math.pi), abs=1e-12)
    x = torch.tensor([0.3, 2.0, 7.0], dtype=torch.float64)
    for a in (0.0, 0.5, 3.0, math.inf):
        ours = general_loss(x, a, 1.0).tolist()
        assert [table_script.rho(v, a) for v in x.tolist()] == pytest.approx(ours, rel=1e-13)
