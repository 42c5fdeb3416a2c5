"""AdaptiveLoss and StudentTLoss: parameterisation, NLL values, gradients, fitting, demo."""

import math

import numpy as np
import pytest
import torch
from scipy import stats

from reprlab.cli import main
from reprlab.errors import ConfigError
from reprlab.losses import (
    AdaptiveLoss,
    StudentTLoss,
    fit_adaptive,
    general_loss,
    log_partition,
    nll,
    sample,
)


def test_initial_values_and_nll():
    loss = AdaptiveLoss(
        (3, 4),
        alpha_range=(0.0, 3.0),
        scale_min=1e-8,
        scale_init=2.0,
        reduction="none",
        dtype=torch.float64,
    )
    assert torch.allclose(loss.alpha(), torch.full((3, 4), 1.5, dtype=torch.float64))
    assert torch.allclose(loss.scale(), torch.full((3, 4), 2.0, dtype=torch.float64))
    x = torch.randn(5, 3, 4, dtype=torch.float64)
    torch.testing.assert_close(loss(x), nll(x, 1.5, 2.0))
    mean = AdaptiveLoss(
        (3, 4), alpha_range=(0.0, 3.0), scale_min=1e-8, scale_init=2.0, dtype=torch.float64
    )
    torch.testing.assert_close(mean(x), nll(x, 1.5, 2.0).mean())
    mean.reduction = "sum"
    torch.testing.assert_close(mean(x), nll(x, 1.5, 2.0).sum())


def test_alpha_init_and_fixed_parameters():
    loss = AdaptiveLoss(2, alpha_init=0.25)
    assert loss.alpha().tolist() == pytest.approx([0.25, 0.25])
    fixed = AdaptiveLoss(2, alpha_range=(1.0, 1.0), scale_min=0.3, scale_init=0.3)
    assert list(fixed.parameters()) == []
    assert fixed.alpha().tolist() == [1.0, 1.0] and fixed.scale().tolist() == pytest.approx(
        [0.3] * 2
    )
    x = torch.randn(7, 2)
    torch.testing.assert_close(fixed(x), nll(x, 1.0, 0.3).mean())
    assert "alpha_range=(1.0, 1.0)" in repr(fixed)


def test_state_dict_round_trip():
    a = AdaptiveLoss(4)
    with torch.no_grad():
        a.latent_alpha.normal_()
        a.latent_scale.normal_()
    b = AdaptiveLoss(4)
    b.load_state_dict(a.state_dict())
    torch.testing.assert_close(b.alpha(), a.alpha())
    torch.testing.assert_close(b.scale(), a.scale())


def test_bad_arguments():
    with pytest.raises(ConfigError, match="alpha_range"):
        AdaptiveLoss(3, alpha_range=(-1.0, 2.0))
    with pytest.raises(ConfigError, match="alpha_init"):
        AdaptiveLoss(3, alpha_init=2.5)
    with pytest.raises(ConfigError, match="scale"):
        AdaptiveLoss(3, scale_min=2.0, scale_init=1.0)
    with pytest.raises(ConfigError, match="num_dims"):
        AdaptiveLoss(0)
    with pytest.raises(ConfigError, match="does not end in num_dims"):
        AdaptiveLoss(3)(torch.zeros(4, 5))


def test_gradients_match_the_generic_autograd_path():
    torch.manual_seed(0)
    loss = AdaptiveLoss(6, alpha_range=(0.0, 3.0), dtype=torch.float64)
    with torch.no_grad():
        loss.latent_alpha.copy_(torch.linspace(-3, 3, 6))
        loss.latent_scale.copy_(torch.linspace(-1, 1, 6))
    x = torch.randn(32, 6, dtype=torch.float64) * 3
    loss(x).backward()
    grads = [p.grad.clone() for p in loss.parameters()]
    # reference: rho evaluated elementwise through its closed form, autograd all the way
    la = loss.latent_alpha.detach().clone().requires_grad_()
    ls = loss.latent_scale.detach().clone().requires_grad_()
    alpha = 3.0 * torch.sigmoid(la)
    scale = 1e-5 + (1 - 1e-5) / math.log(2) * torch.nn.functional.softplus(ls)
    b = (alpha - 2).abs()
    rho = b / alpha * ((x / scale) ** 2 / b + 1) ** (alpha / 2) - b / alpha
    (rho + torch.log(scale) + log_partition(alpha)).mean().backward()
    torch.testing.assert_close(grads[0], la.grad, rtol=1e-9, atol=1e-12)
    torch.testing.assert_close(grads[1], ls.grad, rtol=1e-9, atol=1e-12)


def test_gradcheck_through_the_module():
    loss = AdaptiveLoss(3, dtype=torch.float64, reduction="none")
    x = torch.randn(4, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: loss(v), (x,))
    assert torch.autograd.gradcheck(
        lambda la: general_loss(x, 0.1 + torch.sigmoid(la), 1.0),
        (torch.randn(3, dtype=torch.float64, requires_grad=True),),
    )


def test_fitting_recovers_cauchy_and_normal():
    generator = torch.Generator().manual_seed(0)
    cauchy = sample(0.0, 0.5, (4000,), generator=generator).double()
    normal = sample(2.0, 1.0, (4000,), generator=generator).double()
    fitted_cauchy = fit_adaptive(cauchy, steps=300, lr=0.2)
    fitted_normal = fit_adaptive(normal, steps=300, lr=0.2)
    assert fitted_cauchy.alpha().item() < 0.1
    assert fitted_normal.alpha().item() > 1.9
    assert fitted_cauchy.scale().item() == pytest.approx(0.5, abs=0.1)
    assert fitted_normal.scale().item() == pytest.approx(1.0, abs=0.1)


def test_student_t_matches_scipy():
    loss = StudentTLoss(
        3, scale_min=1e-6, scale_init=1.5, df_init=2.5, reduction="none", dtype=torch.float64
    )
    x = torch.randn(10, 3, dtype=torch.float64) * 4
    expected = -stats.t.logpdf(x.numpy(), df=2.5, scale=1.5)
    np.testing.assert_allclose(loss(x).detach().numpy(), expected, rtol=1e-12)
    with torch.no_grad():
        loss.log_df.copy_(torch.tensor([-1.0, 0.5, 3.0]))
        loss.latent_scale.copy_(torch.tensor([0.3, -0.2, 1.0]))
    df, scale = loss.df().detach().numpy(), loss.scale().detach().numpy()
    np.testing.assert_allclose(
        loss(x).detach().numpy(), -stats.t.logpdf(x.numpy(), df=df, scale=scale), rtol=1e-12
    )
    mean_loss = StudentTLoss(3, dtype=torch.float64)
    mean_loss(x).backward()
    assert all(torch.isfinite(p.grad).all() for p in mean_loss.parameters())


def test_demo_command(capsys):
    assert main(["demo", "--samples", "500", "--steps", "5", "--seed", "3"]) == 0
    out = capsys.readouterr().out
    assert "Cauchy" in out and "Normal" in out and "fitted alpha" in out
    assert main(["demo", "--samples", "1"]) == 2


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_reduced_fast_path_matches_elementwise_and_gradchecks(reduction):
    torch.manual_seed(2)
    fast = AdaptiveLoss(
        (2, 5), alpha_range=(0.001, 1.999), reduction=reduction, dtype=torch.float64
    )
    with torch.no_grad():
        fast.latent_alpha.copy_(torch.linspace(-6, 6, 10).reshape(2, 5))
        fast.latent_scale.copy_(torch.linspace(-1, 1, 10).reshape(2, 5))
    elementwise = AdaptiveLoss((2, 5), reduction="none", dtype=torch.float64)
    elementwise.load_state_dict(fast.state_dict())
    x = (torch.randn(3, 4, 2, 5, dtype=torch.float64) * 2).requires_grad_()
    got = fast(x)
    per_element = elementwise(x)
    ref = per_element.mean() if reduction == "mean" else per_element.sum()
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    mine = torch.autograd.grad(got, [x, *fast.parameters()])
    theirs = torch.autograd.grad(ref, [x, *elementwise.parameters()])
    for m, t in zip(mine, theirs):
        torch.testing.assert_close(m, t, rtol=1e-9, atol=1e-13)
    assert torch.autograd.gradcheck(fast, (x,))


def test_reduced_fast_path_alpha_and_log_partition_gradients():
    # alpha_range (0, 3) with alpha at exactly 2 in one dimension: the robust fallback
    torch.manual_seed(3)
    loss = AdaptiveLoss(4, alpha_range=(0.0, 3.0), dtype=torch.float64)
    with torch.no_grad():
        loss.latent_alpha.copy_(torch.tensor([-4.0, 0.0, 1.5, math.log(2.0)]))  # last: alpha 2
    assert loss.alpha()[-1].item() == pytest.approx(2.0)
    x = torch.randn(9, 4, dtype=torch.float64) * 2
    loss(x).backward()
    got = [p.grad.clone() for p in loss.parameters()]
    la = loss.latent_alpha.detach().clone().requires_grad_()
    ls = loss.latent_scale.detach().clone().requires_grad_()
    alpha = 3.0 * torch.sigmoid(la)
    scale = 1e-5 + (1 - 1e-5) / math.log(2) * torch.nn.functional.softplus(ls)
    (general_loss(x, alpha, scale) + torch.log(scale) + log_partition(alpha)).mean().backward()
    # log Z's slope at alpha = 2 is a steep secant on tiny knot intervals: the closed-form
    # spline derivative and autograd's differ there in the 8th digit (rounding, either way)
    torch.testing.assert_close(got[0], la.grad, rtol=1e-7, atol=1e-12)
    torch.testing.assert_close(got[1], ls.grad, rtol=1e-9, atol=1e-12)


def test_log_z_and_slope_match_log_partition_autograd_and_finite_differences():
    from reprlab.losses.distribution import log_partition_and_slope

    a = torch.cat(
        [torch.linspace(0, 10, 1001, dtype=torch.float64), torch.tensor([2.0, 1e-9, 1e6])]
    ).requires_grad_()
    value, slope = log_partition_and_slope(a)
    (ref_slope,) = torch.autograd.grad(log_partition(a).sum(), a)
    torch.testing.assert_close(value, log_partition(a).detach(), rtol=0, atol=1e-14)
    torch.testing.assert_close(slope, ref_slope, rtol=1e-7, atol=1e-12)
    # central differences, away from alpha = 2 where d log Z / d alpha is unbounded
    inner = torch.linspace(0.05, 9.95, 199, dtype=torch.float64)
    inner = inner[(inner - 2).abs() > 0.1]
    eps = 1e-6
    fd = (log_partition(inner + eps) - log_partition(inner - eps)) / (2 * eps)
    torch.testing.assert_close(log_partition_and_slope(inner)[1], fd, rtol=1e-6, atol=1e-8)


def test_reduced_fast_path_empty_batch_and_float32_batch():
    loss = AdaptiveLoss(3)
    assert math.isnan(loss(torch.zeros(0, 3)).item())
    loss.reduction = "sum"
    assert loss(torch.zeros(0, 3)).item() == 0.0
    loss = AdaptiveLoss(784)
    with torch.no_grad():
        loss.latent_alpha.copy_(torch.linspace(-6, 6, 784))
    x = torch.randn(256, 784) * 3
    ref = nll(x.double(), loss.alpha().double(), loss.scale().double()).mean()
    assert loss(x).item() == pytest.approx(ref.item(), rel=1e-5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("cls", [AdaptiveLoss, StudentTLoss])
def test_input_target_form_like_torch_losses(cls, reduction):
    torch.manual_seed(4)
    loss = cls(5, reduction=reduction, dtype=torch.float64)
    pred = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    target = torch.randn(6, 5, dtype=torch.float64, requires_grad=True)
    out = loss(pred, target)
    torch.testing.assert_close(out, loss(pred.detach() - target.detach()), rtol=0, atol=0)
    out.sum().backward()
    torch.testing.assert_close(target.grad, -pred.grad, rtol=0, atol=0)
    residual = (pred.detach() - target.detach()).requires_grad_()
    loss(residual).sum().backward()
    torch.testing.assert_close(pred.grad, residual.grad, rtol=0, atol=0)
    with pytest.raises(ConfigError, match="same shape"):
        loss(pred, target[:1])
