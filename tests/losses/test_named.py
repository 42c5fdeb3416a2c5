"""Named losses: agreement with torch.nn, with rho's special cases, reductions, get_loss."""

import math

import pytest
import torch
import torch.nn.functional as F

from reprlab.errors import ConfigError, UnknownNameError
from reprlab.losses import (
    LOSSES,
    CauchyLoss,
    CharbonnierLoss,
    GemanMcClureLoss,
    SmoothL1Loss,
    TorchSmoothL1Loss,
    cauchy_loss,
    charbonnier_loss,
    geman_mcclure_loss,
    general_loss,
    get_loss,
    huber_loss,
    l1_loss,
    l2_loss,
    smooth_l1_loss,
    torch_smooth_l1_loss,
    welsch_loss,
)

torch.manual_seed(0)
PRED = torch.randn(8, 5) * 3
TARGET = torch.randn(8, 5)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_torch_equivalents_are_exact(reduction):
    assert torch.equal(
        l2_loss(PRED, TARGET, reduction), F.mse_loss(PRED, TARGET, reduction=reduction)
    )
    assert torch.equal(
        l1_loss(PRED, TARGET, reduction), F.l1_loss(PRED, TARGET, reduction=reduction)
    )
    assert torch.equal(
        huber_loss(PRED, TARGET, 0.7, reduction),
        F.huber_loss(PRED, TARGET, reduction=reduction, delta=0.7),
    )
    assert torch.equal(
        torch_smooth_l1_loss(PRED, TARGET, 0.7, reduction),
        F.smooth_l1_loss(PRED, TARGET, reduction=reduction, beta=0.7),
    )
    assert torch.equal(
        get_loss("mse", reduction=reduction)(PRED, TARGET),
        torch.nn.MSELoss(reduction=reduction)(PRED, TARGET),
    )


def test_closed_forms_and_relation_to_rho():
    x = (PRED - TARGET).double()
    c = 1.7
    z = x / c
    closed = {
        charbonnier_loss: (torch.sqrt(z**2 + 1) - 1, 1.0),
        cauchy_loss: (torch.log(0.5 * z**2 + 1), 0.0),
        geman_mcclure_loss: (2 * z**2 / (z**2 + 4), -2.0),
        welsch_loss: (1 - torch.exp(-0.5 * z**2), -math.inf),
    }
    for fn, (expected, alpha) in closed.items():
        got = fn(x, scale=c, reduction="none")
        torch.testing.assert_close(got, expected, rtol=1e-12, atol=1e-15)
        torch.testing.assert_close(got, general_loss(x, alpha, c))
    torch.testing.assert_close(l2_loss(x, reduction="none"), 2 * general_loss(x, 2.0, 1.0))
    # l1 is the limit c rho(x, 1, c) as c -> 0
    torch.testing.assert_close(1e-9 * general_loss(x, 1.0, 1e-9), x.abs(), rtol=1e-6, atol=1e-9)
    # huber = beta * torch's smooth L1
    torch.testing.assert_close(
        huber_loss(x, delta=0.3, reduction="none"),
        0.3 * torch_smooth_l1_loss(x, beta=0.3, reduction="none"),
    )


def test_modules_match_functions_and_reductions():
    for name in LOSSES:
        module = get_loss(name, reduction="none")
        elementwise = module(PRED, TARGET)
        assert elementwise.shape == PRED.shape
        # a residual alone is the same as (input, target)
        torch.testing.assert_close(module(PRED - TARGET), elementwise)
        torch.testing.assert_close(get_loss(name)(PRED, TARGET), elementwise.mean())
        torch.testing.assert_close(get_loss(name, reduction="sum")(PRED, TARGET), elementwise.sum())
    module = CauchyLoss(scale=torch.full((5,), 2.0))
    torch.testing.assert_close(module(PRED, TARGET), cauchy_loss(PRED, TARGET, scale=2.0))
    assert "scale=2.0" in repr(GemanMcClureLoss(scale=2.0))
    general = get_loss("general", alpha=-2.0, scale=0.5)
    torch.testing.assert_close(general(PRED), geman_mcclure_loss(PRED, scale=0.5))


def test_gradients_flow():
    x = PRED.clone().requires_grad_()
    for name in LOSSES:
        x.grad = None
        get_loss(name)(x, TARGET).backward()
        assert torch.isfinite(x.grad).all() and x.grad.abs().sum() > 0


def test_errors():
    with pytest.raises(UnknownNameError, match="valid: cauchy, charbonnier"):
        get_loss("lorentzian")
    with pytest.raises(ConfigError, match="accepts: scale, reduction"):
        get_loss("welsch", alpha=1.0)
    with pytest.raises(ConfigError, match="reduction"):
        get_loss("l1", reduction="avg")
    with pytest.raises(ConfigError, match="scale must be positive"):
        get_loss("cauchy", scale=0.0)


def test_smooth_l1_is_barrons_alpha_one():
    # seed 000's "SmoothL1 (defined in [Barron 2019])": rho(x, 1, c) = sqrt((x/c)^2 + 1) - 1
    gen = torch.Generator().manual_seed(3)
    x = torch.randn(64, 7, generator=gen, dtype=torch.float64) * 5
    for scale in (0.25, 1.0, 2.5):  # exact in the module's float32 buffer
        got = get_loss("smooth-l1", scale=scale, reduction="none")(x)
        torch.testing.assert_close(got, general_loss(x, 1.0, scale), rtol=1e-14, atol=0)
        z = x / scale
        torch.testing.assert_close(got, torch.sqrt(z**2 + 1) - 1, rtol=1e-12, atol=1e-15)
    assert "smooth L1" in CharbonnierLoss.__doc__ and "seed 000" in CharbonnierLoss.__doc__
    # torch's smooth L1 keeps its own name and differs from it
    torch_form = get_loss("torch-smooth-l1", beta=1.0, reduction="none")(x)
    torch.testing.assert_close(
        torch_form, F.smooth_l1_loss(x, torch.zeros_like(x), reduction="none")
    )
    assert not torch.allclose(torch_form, general_loss(x, 1.0, 1.0))


def test_names_are_hyphenated_and_underscores_are_aliases():
    assert all("_" not in name for name in LOSSES)
    assert {"geman-mcclure", "smooth-l1", "torch-smooth-l1"} <= set(LOSSES)
    for alias, name in [
        ("geman_mcclure", "geman-mcclure"),
        ("smooth_l1", "smooth-l1"),
        ("torch_smooth_l1", "torch-smooth-l1"),
    ]:
        assert alias in LOSSES and LOSSES[alias] is LOSSES[name] is LOSSES.get(alias)
        assert type(get_loss(alias)) is LOSSES[name]
    with pytest.raises(UnknownNameError) as error:
        get_loss("lorentzian")
    assert "geman-mcclure" in str(error.value) and "geman_mcclure" not in str(error.value)


def test_old_smooth_l1_names_warn_and_keep_working():
    with pytest.warns(FutureWarning, match="torch_smooth_l1_loss"):
        old = smooth_l1_loss(PRED, TARGET, 0.7)
    assert torch.equal(old, F.smooth_l1_loss(PRED, TARGET, beta=0.7))
    with pytest.warns(FutureWarning, match="TorchSmoothL1Loss"):
        module = SmoothL1Loss(beta=0.7)
    assert isinstance(module, TorchSmoothL1Loss) and torch.equal(module(PRED, TARGET), old)
