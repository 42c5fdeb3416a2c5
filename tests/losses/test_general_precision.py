"""general_loss against an mpmath reference: values and gradients in every floating dtype.

The reference evaluates rho(x, alpha, c) and its derivatives in x, c and alpha in 60 or more
significant digits (more where the alpha-derivative's O(L^2) terms cancel). A result is checked
wherever the exact value is a normal number of the dtype; the tolerance is the dtype's rounding
of the result plus the rounding the computing dtype (float32 for half inputs) cannot avoid:
the inputs' rounding amplified by the condition number of exp(y), y = alpha L / 2.
"""

import math

import mpmath as mp
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprlab.losses import AdaptiveLoss, general_loss

DTYPES = [torch.float16, torch.bfloat16, torch.float32, torch.float64]


def reference(x: float, alpha: float, scale: float):
    """(rho, d rho / dx, d rho / dscale, d rho / dalpha) in high precision (None: undefined)."""
    with mp.workdps(60):
        x, c = mp.mpf(x), mp.mpf(scale)
        z = x / c
        if alpha == math.inf:
            e = mp.exp(z * z / 2)
            return e - 1, z * e / c, -z * z * e / c, mp.mpf(0)
        if alpha == -math.inf:
            e = mp.exp(-z * z / 2)
            return 1 - e, z * e / c, -z * z * e / c, mp.mpf(0)
        if alpha == 2:
            return z * z / 2, z / c, -z * z / c, None
        a = mp.mpf(alpha)
        b = abs(a - 2)
        L = mp.log1p(z * z / b)
        extra = int(2 * max(0, -mp.log10(L))) if L > 0 else 0
    with mp.workdps(60 + extra):
        q = z * z / b
        L = mp.log1p(q)
        p = mp.exp(L * (a / 2 - 1))
        rho = L if a == 0 else b / a * mp.expm1(a / 2 * L)
        dx, dc = z * p / c, -z * z * p / c
        if L == 0:
            return rho, dx, dc, mp.mpf(0)
        # d rho / d alpha = (s / 2) [E (L - w) - L^2 exprel'(y)] (exact algebra, see general.py)
        y = a / 2 * L
        E = mp.exp(y)
        if abs(y) < mp.mpf(10) ** -15:  # its series; the closed form cancels to nothing
            exprel_prime = mp.mpf(1) / 2 + y / 3 + y * y / 8
        else:
            exprel_prime = (E * (y - 1) + 1) / (y * y)
        da = mp.sign(a - 2) / 2 * (E * (L - q / (1 + q)) - L * L * exprel_prime)
        return rho, dx, dc, da


def _check(name, got: float, exact, dtype, rtol):
    finfo = torch.finfo(dtype)
    exact = float(exact) if abs(exact) < 1e308 else math.copysign(math.inf, exact)
    assert not math.isnan(got), f"{name}: NaN, exact {exact}"
    if abs(exact) > finfo.max or exact == 0:
        return
    if abs(exact) < finfo.tiny:  # subnormal: only absolute agreement is meaningful
        assert abs(got - exact) <= finfo.tiny, f"{name}: {got} != {exact}"
        return
    assert abs(got - exact) <= rtol * abs(exact), (
        f"{name}: {got} != {exact} (rel {abs(got - exact) / abs(exact):.2e} > {rtol:.2e})"
    )


def _tolerance(x: float, alpha: float, scale: float, dtype) -> float:
    compute = torch.promote_types(dtype, torch.float32)
    z = x / scale
    if math.isinf(alpha):
        y = 0.5 * z * z
    else:
        y = 0.5 * abs(alpha) * math.log1p(z * z / max(abs(alpha - 2), 1e-300))
    return torch.finfo(dtype).eps + 32 * torch.finfo(compute).eps * (1 + abs(y))


magnitudes = st.floats(-12, 12)
alphas = st.one_of(
    st.floats(-40, 40),
    st.floats(-1e4, 1e4),
    st.floats(1.9, 2.1),
    st.floats(-1e-3, 1e-3),
    st.sampled_from([0.0, 1.0, -2.0, 2.0, 4.0, math.inf, -math.inf]),
)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    dtype=st.sampled_from(DTYPES),
    log_x=magnitudes,
    negative=st.booleans(),
    log_c=st.floats(-6, 6),
    alpha=alphas,
)
def test_values_and_gradients_match_mpmath(dtype, log_x, negative, log_c, alpha):
    finfo = torch.finfo(dtype)
    x = torch.tensor(-(10**log_x) if negative else 10**log_x, dtype=dtype)
    c = torch.tensor(10**log_c, dtype=dtype)
    a = torch.tensor(alpha, dtype=dtype)
    if not (torch.isfinite(x) and finfo.tiny <= c <= finfo.max) or (
        torch.isinf(a) != math.isinf(alpha)
    ):
        return  # the drawn number is not a normal number of this dtype
    xv, cv, av = x.item(), c.item(), a.item()
    exact = reference(xv, av, cv)
    rtol = _tolerance(xv, av, cv, dtype)
    # one call alone (the one-formula path where it applies) and one beside alpha = 2 (the
    # robust path): both must agree with the reference
    for extra_alpha in ([], [2.0]):
        n = 1 + len(extra_alpha)
        xs = x.repeat(n).requires_grad_()
        alphas_ = torch.tensor([av, *extra_alpha], dtype=dtype, requires_grad=True)
        cs = c.repeat(n).requires_grad_()
        value = general_loss(xs, alphas_, cs)
        assert value.dtype == dtype
        value.sum().backward()
        for grad, leaf in ((xs.grad, xs), (alphas_.grad, alphas_), (cs.grad, cs)):
            assert grad.dtype == leaf.dtype
        got = (value[0].item(), xs.grad[0].item(), cs.grad[0].item(), alphas_.grad[0].item())
        for name, g, e in zip(("rho", "d/dx", "d/dc", "d/dalpha"), got, exact):
            if e is not None:
                _check(f"{name} ({dtype}, x={xv}, alpha={av}, c={cv})", g, e, dtype, rtol)


def test_issue_cases():
    # x / c = 1e60 overflows float32, yet rho = log(0.5e120 + 1) = 275.617... is representable
    exact = float(reference(1e30, 0.0, 1e-30)[0])
    assert general_loss(torch.tensor(1e30), 0.0, 1e-30).item() == pytest.approx(exact, rel=1e-6)
    # gradients for every alpha <= 0 with |x / c| beyond the dtype's range: finite, exact
    for dtype in (torch.float32, torch.float64):
        for alpha in (0.0, -1e-7, -0.5, -2.0, -50.0, -math.inf):
            x = torch.tensor(1e30, dtype=dtype, requires_grad=True)
            a = torch.tensor(alpha, dtype=dtype, requires_grad=True)
            c = torch.tensor(1e-30, dtype=dtype, requires_grad=True)
            general_loss(x, a, c).backward()
            ref = reference(1e30, a.item(), c.item()) if dtype == torch.float32 else None
            for g in (x.grad, a.grad, c.grad):
                assert not torch.isnan(g)
            if ref is not None:
                _check("d/dalpha", a.grad.item(), ref[3], dtype, 1e-5)
    # d rho / d alpha at alpha = -2 below |x / c| = 0.1 in float32: sign and magnitude
    for x in (1e-1, 3e-2, 1e-2, 1e-3):
        a = torch.tensor(-2.0, requires_grad=True)
        general_loss(torch.tensor(x), a, 1.0).backward()
        exact = float(reference(x, -2.0, 1.0)[3])
        assert a.grad.item() == pytest.approx(exact, rel=1e-5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_adaptive_loss_computes_half_inputs_in_float32(dtype):
    # the scale's gradient was -inf: alpha and scale were cast down to the input's dtype
    loss = AdaptiveLoss(4, scale_init=0.01)
    x = torch.ones(8, 4, dtype=dtype, requires_grad=True)
    out = loss(x)
    assert out.dtype == dtype
    out.backward()
    assert x.grad.dtype == dtype and loss.latent_scale.grad.dtype == torch.float32
    ref_loss = AdaptiveLoss(4, scale_init=0.01, dtype=torch.float64)
    ref_x = x.detach().double().requires_grad_()
    ref_loss(ref_x).backward()
    for got, want in (
        (loss.latent_scale.grad, ref_loss.latent_scale.grad),
        (loss.latent_alpha.grad, ref_loss.latent_alpha.grad),
    ):
        assert torch.isfinite(got).all()
        torch.testing.assert_close(got.double(), want, rtol=1e-5, atol=0)
    torch.testing.assert_close(x.grad.double(), ref_x.grad, rtol=torch.finfo(dtype).eps, atol=0)
    for reduction in ("none", "sum"):
        loss.reduction = ref_loss.reduction = reduction
        torch.testing.assert_close(
            loss(x).double(), ref_loss(ref_x).double(), rtol=torch.finfo(dtype).eps, atol=0
        )
