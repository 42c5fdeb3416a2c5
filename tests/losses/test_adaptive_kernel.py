"""The fused CPU kernel behind AdaptiveLoss: same values and gradients as the eager path."""

import pytest
import torch

from reprlab.losses import AdaptiveLoss, adaptive_kernel, general
from reprlab.losses.general import column_total

needs_kernel = pytest.mark.skipif(
    adaptive_kernel.kernel() is None, reason="no C compiler or no AVX2: the eager path runs"
)


@pytest.fixture
def calls(monkeypatch):
    """Counts the kernel's runs."""
    seen = []
    original = adaptive_kernel.columns

    def counted(*args):
        seen.append(args[0].shape)
        return original(*args)

    monkeypatch.setattr(adaptive_kernel, "columns", counted)
    return seen


def _loss_and_grads(loss, x, use_kernel, monkeypatch):
    monkeypatch.setattr(general, "_USE_KERNEL", use_kernel)
    loss.zero_grad()
    xg = x.clone().requires_grad_()
    out = loss(xg)
    out.backward()
    return [out.detach(), xg.grad, loss.latent_alpha.grad, loss.latent_scale.grad]


@needs_kernel
@pytest.mark.parametrize("reduction", ["mean", "sum"])
@pytest.mark.parametrize("spread", [0.01, 1.0, 30.0])
def test_kernel_equals_eager_path(reduction, spread, calls, monkeypatch):
    torch.manual_seed(7)
    d = 53  # not a multiple of the kernel's vector width
    loss = AdaptiveLoss(d, alpha_range=(0.001, 4.0), reduction=reduction)
    with torch.no_grad():  # alphas on both sides of 1, 2 and 3 (all three derivative forms)
        loss.latent_alpha.copy_(torch.linspace(-7, 7, d))
        loss.latent_scale.copy_(torch.linspace(-2, 2, d))
    x = torch.randn(37, d) * spread  # spread 0.01: most elements take the series near x = 0
    fused = _loss_and_grads(loss, x, True, monkeypatch)
    assert calls == [(37, d)]
    eager = _loss_and_grads(loss, x, False, monkeypatch)
    assert calls == [(37, d)]
    # the alpha gradient adds sum d rho / d alpha to R d log Z / d alpha, which can nearly
    # cancel: the tolerance is relative to each tensor's largest entry as well
    for got, want in zip(fused, eager):
        torch.testing.assert_close(got, want, rtol=1e-6, atol=1e-6 * float(want.abs().max()))


@needs_kernel
@pytest.mark.parametrize("spread", [0.01, 1.0, 30.0])
def test_kernel_column_sums_equal_eager_path(spread, calls, monkeypatch):
    """Values within 1e-6 of the eager path; gradients within 2e-6, as both paths' float32
    roundings (about 1e-6 each against float64, from exp(y) of a rounded y) allow, and the
    kernel never further from float64 than the eager path."""
    torch.manual_seed(6)
    d = 53
    x = torch.randn(37, d) * spread
    alpha = torch.linspace(0.001, 6.0, d)
    scale = torch.linspace(0.2, 3.0, d)
    results = {}
    for mode in ("kernel", "eager", "float64"):
        monkeypatch.setattr(general, "_USE_KERNEL", mode == "kernel")
        dtype = torch.float64 if mode == "float64" else torch.float32
        leaves = [t.to(dtype).clone().requires_grad_() for t in (x, alpha, scale)]
        out = column_total(*leaves, 0.5)
        out.backward()
        results[mode] = [out.detach().double()] + [t.grad.double() for t in leaves]
    assert len(calls) == 1
    exact = results["float64"]
    for i, (got, want) in enumerate(zip(results["kernel"], results["eager"])):
        torch.testing.assert_close(got, want, rtol=1e-6 if i == 0 else 2e-6, atol=0)
        kernel_error = ((got - exact[i]) / exact[i]).abs().max()
        eager_error = ((want - exact[i]) / exact[i]).abs().max()
        assert kernel_error <= 1.05 * eager_error + 1e-7


@needs_kernel
def test_kernel_against_float64(calls):
    torch.manual_seed(8)
    x = torch.randn(64, 20) * torch.logspace(-3, 2, 20)
    a = torch.linspace(0.01, 5.0, 20).requires_grad_()
    c = torch.linspace(0.3, 2.0, 20).requires_grad_()
    xg = x.clone().requires_grad_()
    column_total(xg, a, c, 0.5).backward()
    assert len(calls) == 1
    x64, a64, c64 = (t.detach().double().requires_grad_() for t in (x, a, c))
    (0.5 * general.general_loss(x64, a64, c64).sum()).backward()
    for got, want in ((xg.grad, x64.grad), (a.grad, a64.grad), (c.grad, c64.grad)):
        torch.testing.assert_close(got.double(), want, rtol=2e-5, atol=0)


@needs_kernel
def test_fallbacks_and_retained_graph(calls):
    torch.manual_seed(9)
    a = torch.tensor([0.5, 1.5, 2.5], requires_grad=True)
    c = torch.ones(3)
    # float64, a tiny alpha or alpha = 2, and no gradient wanted: the eager path
    column_total(torch.randn(4, 3, dtype=torch.float64), a.double(), c.double())
    column_total(torch.randn(4, 3), torch.tensor([0.0, 1.0, 2.0], requires_grad=True), c)
    with torch.no_grad():
        column_total(torch.randn(4, 3), a, c)
    assert calls == []
    # an exponent too large for the kernel's forms: it declines, the robust path answers
    big = torch.tensor([[1e30, 1.0, 1.0], [1.0, 2.0, 3.0]], requires_grad=True)
    out = column_total(big, a, c)
    out.backward()
    assert len(calls) == 1 and torch.isfinite(out) and torch.isfinite(big.grad).all()
    # a second backward through a retained graph recomputes what the first consumed
    x = torch.randn(5, 3, requires_grad=True)
    out = column_total(x, a, c)
    first = torch.autograd.grad(out, (x, a), retain_graph=True)
    second = torch.autograd.grad(out, (x, a))
    for f, s in zip(first, second):
        torch.testing.assert_close(f, s, rtol=0, atol=0)


@needs_kernel
@pytest.mark.parametrize("spread", [0.01, 1.0, 30.0])
def test_elementwise_kernel_equals_eager_path(spread, calls):
    """AdaptiveLoss with reduction 'none' (per-element values, gradients through any upstream
    gradient) against the general elementwise Function."""
    torch.manual_seed(5)
    d = 29
    x = torch.randn(41, d) * spread
    alpha = torch.linspace(0.001, 6.0, d)
    scale = torch.linspace(0.2, 3.0, d)
    upstream = torch.rand(41, d)
    results = []
    for fused in (True, False):
        leaves = [t.clone().requires_grad_() for t in (x, alpha, scale)]
        if fused:
            out = general.column_elementwise(*leaves)
        else:
            out = general._GeneralLoss.apply(*leaves)
        (out * upstream).sum().backward()
        results.append([out.detach()] + [t.grad for t in leaves])
    assert calls == [(41, d)]
    # per element, y = alpha L / 2 reaches ~10 at spread 30: one float32 ulp of L (log1p of
    # torch's library against SLEEF) moves exp(y) by ~1e-6, so values within 2e-6 there and
    # 1e-6 below; gradients (sums of float32 products) within 2e-6
    for i, (got, want) in enumerate(zip(*results)):
        rtol = 1e-6 if i == 0 and spread <= 1 else 2e-6
        torch.testing.assert_close(got, want, rtol=rtol, atol=0)
    # through AdaptiveLoss: the module routes reduction 'none' to it
    loss = AdaptiveLoss(d, reduction="none")
    loss(x.requires_grad_()).sum().backward()
    assert len(calls) == 2
