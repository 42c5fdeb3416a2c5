"""general_loss against closed forms, published values, limits, gradcheck and fuzzing."""

import math

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reprlab.losses import general_loss

X = torch.tensor([0.0, 0.5, 1.0, 2.0, 10.0])
GRID = torch.linspace(-30, 30, 601)


def closed_forms(z: torch.Tensor) -> dict[float, torch.Tensor]:
    return {
        2.0: 0.5 * z**2,
        0.0: torch.log(0.5 * z**2 + 1),
        -math.inf: 1 - torch.exp(-0.5 * z**2),
        math.inf: torch.exp(0.5 * z**2) - 1,
        1.0: torch.sqrt(z**2 + 1) - 1,
        -2.0: 2 * z**2 / (z**2 + 4),
        4.0: z**4 / 8 + z**2 / 2,
    }


@pytest.mark.parametrize("dtype,rtol", [(torch.float32, 1e-6), (torch.float64, 1e-12)])
def test_special_cases_match_closed_forms(dtype, rtol):
    x = GRID.to(dtype)
    for scale in (0.5, 1.0, 3.0):
        z64 = x.double() / scale
        for alpha, expected in closed_forms(z64).items():
            if alpha == math.inf:
                # exp(z^2/2) amplifies the rounding of z = x/c by z^2: keep it well conditioned
                keep = z64.abs() < (2 if dtype == torch.float32 else 10)
                got = general_loss(x[keep], alpha, scale).double()
                torch.testing.assert_close(got, expected[keep], rtol=rtol, atol=0)
                continue
            got = general_loss(x, alpha, scale).double()
            torch.testing.assert_close(got, expected, rtol=rtol, atol=1e-300)


@pytest.mark.parametrize(
    "alpha,expected",
    [
        (0.5, [0, 0.117869632876, 0.408658099402, 1.15134772569, 5.60428823759]),
        (1.5, [0, 0.118467668472, 0.426502352318, 1.39871747424, 17.4607568923]),
    ],
)
def test_published_values(alpha, expected):
    expected = torch.tensor(expected, dtype=torch.float64)
    torch.testing.assert_close(general_loss(X.double(), alpha, 1.0), expected, rtol=1e-11, atol=0)
    torch.testing.assert_close(general_loss(X, alpha, 1.0), expected.float(), rtol=1e-6, atol=0)


def test_continuity_at_zero_and_two():
    x = torch.linspace(-20, 20, 81, dtype=torch.float64)
    for limit in (0.0, 2.0):
        at = general_loss(x, limit, 1.3)
        for eps in (1e-9, -1e-9):
            near = general_loss(x, limit + eps, 1.3)
            torch.testing.assert_close(near, at, rtol=1e-6, atol=1e-300)
    x32 = x.float()
    for limit in (0.0, 2.0):
        at = general_loss(x32, limit, 1.3)
        for eps in (1e-8, -1e-8):
            torch.testing.assert_close(general_loss(x32, limit + eps, 1.3), at, rtol=1e-4, atol=0)


def test_tiny_alpha_is_not_scaled_down():
    # The public reference divides by max(eps, |alpha|): for |alpha| < eps it shrinks rho.
    x = torch.tensor([1.0, 5.0], dtype=torch.float64)
    for alpha in (1e-8, 1e-12, 1e-30, -1e-30):
        torch.testing.assert_close(general_loss(x, alpha, 1.0), general_loss(x, 0.0, 1.0))


def test_scale_invariance():
    x = torch.randn(200, dtype=torch.float64) * 5
    for alpha in (-math.inf, -3.0, 0.0, 0.7, 2.0, 3.5, 1e-5):
        for k in (1e-3, 7.0, 1e4):
            torch.testing.assert_close(
                general_loss(k * x, alpha, k * 0.8), general_loss(x, alpha, 0.8), rtol=1e-10, atol=0
            )


def test_monotone_in_x_alpha_and_bounded():
    x = torch.linspace(0, 50, 501, dtype=torch.float64)
    alphas = [-math.inf, -1e3, -2.0, -0.5, 0.0, 0.5, 1.0, 1.5, 2.0, 3.0, 8.0]
    values = torch.stack([general_loss(x, a, 1.0) for a in alphas])
    assert (values.diff(dim=1) >= 0).all(), "rho grows with |x|"
    assert (values.diff(dim=0) >= -1e-15).all(), "rho grows with alpha"
    for a, v in zip(alphas, values):
        if a < 0:  # bounded above by |alpha - 2| / |alpha|
            bound = 1.0 if a == -math.inf else abs(a - 2) / abs(a)
            assert v.max() <= bound
        if a <= 2:  # rho <= 0.5 z^2 (the quadratic is the top of the family below 2)
            assert (v <= 0.5 * x**2 + 1e-12).all()
    assert (values[:, 0] == 0).all()


def test_broadcasting_floats_and_dtypes():
    x = torch.randn(4, 3)
    alpha = torch.tensor([0.0, 1.0, 2.0])
    scale = torch.tensor([[0.5], [1.0], [2.0], [3.0]])
    out = general_loss(x, alpha, scale)
    assert out.shape == (4, 3) and out.dtype == torch.float32
    for i in range(4):
        for j in range(3):
            expected = general_loss(x[i, j].item(), alpha[j].item(), scale[i, 0].item())
            torch.testing.assert_close(out[i, j], expected.float())
    assert general_loss(x.double(), 1.0, 1.0).dtype == torch.float64
    assert general_loss(x.half(), 1.0, 1.0).dtype == torch.float16
    with pytest.raises(ValueError, match="scale"):
        general_loss(x, 1.0, 0.0)


@pytest.mark.parametrize(
    "alpha", [-math.inf, -5.0, -2.0, -1e-7, 0.0, 1e-7, 3e-4, 0.5, 1.0, 1.999, 2.001, 3.0, 10.0]
)
def test_gradcheck_float64(alpha):
    torch.manual_seed(0)
    x = (torch.randn(6, 3, dtype=torch.float64) * 3).requires_grad_()
    a = torch.full((3,), alpha, dtype=torch.float64)
    if math.isfinite(alpha):
        a = a + torch.tensor([0.0, 3e-4, -2e-3], dtype=torch.float64)
    a.requires_grad_(math.isfinite(alpha))
    c = (torch.rand(3, dtype=torch.float64) + 0.5).requires_grad_()
    assert torch.autograd.gradcheck(general_loss, (x, a, c))
    assert torch.autograd.gradcheck(lambda *v: general_loss(*v).mean(), (x, a, c))
    assert torch.autograd.gradcheck(lambda *v: general_loss(*v).sum(), (x, a, c))


def test_gradients_match_autograd_of_closed_forms():
    x = torch.linspace(-6, 6, 49, dtype=torch.float64)
    for alpha, form in closed_forms(x).items():
        del form
        xg = x.clone().requires_grad_()
        c = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        general_loss(xg, alpha, c).sum().backward()
        xr = x.clone().requires_grad_()
        cr = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
        closed_forms(xr / cr)[alpha].sum().backward()
        torch.testing.assert_close(xg.grad, xr.grad, rtol=1e-10, atol=1e-12)
        torch.testing.assert_close(c.grad, cr.grad, rtol=1e-10, atol=1e-12)


def test_alpha_gradient_near_two_is_finite_and_large():
    x = torch.tensor([1.0], dtype=torch.float64)
    grads = []
    for alpha in (2 - 1e-3, 2 - 1e-6, 2.0, 2 + 1e-6):
        a = torch.tensor(alpha, dtype=torch.float64, requires_grad=True)
        general_loss(x, a, 1.0).sum().backward()
        grads.append(a.grad.item())
    assert all(math.isfinite(g) for g in grads)
    assert grads[1] > grads[0] > 0  # d rho / d alpha grows like log(1 / |alpha - 2|)


def test_matches_fast_and_robust_paths():
    # A tensor alpha holding a special value sends the whole call down the robust path.
    torch.manual_seed(1)
    x = torch.randn(50, 4, dtype=torch.float64) * 4
    alpha = torch.tensor([0.3, 1.2, 2.5, 1.9], dtype=torch.float64)
    both = torch.cat([alpha, torch.tensor([2.0], dtype=torch.float64)])
    xb = torch.cat([x, x[:, :1]], dim=1)
    fast = [v.clone().requires_grad_() for v in (x, alpha)]
    robust = [v.clone().requires_grad_() for v in (xb, both)]
    general_loss(fast[0], fast[1], 0.7).sum().backward()
    out = general_loss(robust[0], robust[1], 0.7)
    out.sum().backward()
    torch.testing.assert_close(out[:, :4], general_loss(x, alpha, 0.7), rtol=1e-13, atol=0)
    torch.testing.assert_close(robust[0].grad[:, :4], fast[0].grad, rtol=1e-12, atol=1e-15)
    torch.testing.assert_close(robust[1].grad[:4], fast[1].grad, rtol=1e-10, atol=1e-12)


def _reference64(x: float, alpha: float, scale: float) -> float:
    """rho in high precision via numpy longdouble where it can, for the fuzzing bounds."""
    z = np.longdouble(x) / np.longdouble(scale)
    if alpha == 2:
        return float(0.5 * z * z)
    if alpha == 0:
        return float(np.log1p(0.5 * z * z))
    a = np.longdouble(alpha)
    b = abs(a - 2)
    with np.errstate(over="ignore"):
        if math.isinf(alpha):
            return float(np.expm1(0.5 * z * z)) if alpha > 0 else float(-np.expm1(-0.5 * z * z))
        return float(b / a * np.expm1(a / 2 * np.log1p(z * z / b)))


finite_x = st.floats(-1e30, 1e30, allow_nan=False)
alphas = st.one_of(
    st.floats(-1e9, 1e9, allow_nan=False, allow_infinity=False),
    st.sampled_from([-math.inf, math.inf, 0.0, 2.0, 1e-9, -1e-9, 2 + 1e-9, 2 - 1e-9]),
)
scales = st.floats(1e-8, 1e8, allow_nan=False)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(x=finite_x, alpha=alphas, scale=scales, dtype=st.sampled_from(["float32", "float64"]))
def test_fuzz_values_and_gradients(x, alpha, scale, dtype):
    dtype = getattr(torch, dtype)
    xt = torch.tensor([x, x / 3, 0.0], dtype=dtype, requires_grad=True)
    at = torch.tensor(alpha, dtype=dtype, requires_grad=True)
    ct = torch.tensor(scale, dtype=dtype, requires_grad=True)
    value = general_loss(xt, at, ct)
    assert not torch.isnan(value).any()
    finfo = torch.finfo(dtype)
    a_cast, c_cast = at.item(), ct.item()
    x_cast = xt.detach().tolist()
    for v, xv in zip(value.tolist(), x_cast):
        ref = _reference64(xv, a_cast, c_cast)
        if math.isfinite(ref) and abs(ref) < finfo.max / 4:
            assert math.isfinite(v)
            assert v == pytest.approx(ref, rel=1e-4 if dtype == torch.float32 else 1e-9, abs=1e-30)
    value.sum().backward()
    for grad in (xt.grad, at.grad, ct.grad):
        assert not torch.isnan(grad).any()
    if dtype == torch.float64 and a_cast <= 2:
        for grad in (xt.grad, at.grad, ct.grad):
            assert torch.isfinite(grad).all()


def _column_total_reference(x, alpha, scale, weight, log_z=None):
    total = general_loss(x, alpha, scale).sum()
    if log_z is not None:
        total = total + x.shape[0] * (torch.log(scale) + log_z).sum()
    return weight * total


@pytest.mark.parametrize(
    "alphas",
    [
        [0.001, 0.3, 1.0, 1.999],  # the fast per-column path
        [0.5, 2.5, 3.0, 6.0],  # alpha > 2 is fast too
        [0.0, 1e-7, 1.0, 2.5],  # tiny alphas: the robust path (alpha = 2: test_adaptive)
    ],
)
def test_column_total_gradcheck_and_matches_general_loss(alphas):
    from reprlab.losses.general import column_total

    torch.manual_seed(0)
    x = (torch.randn(7, 4, dtype=torch.float64) * 3).requires_grad_()
    a = torch.tensor(alphas, dtype=torch.float64, requires_grad=True)
    c = (torch.rand(4, dtype=torch.float64) + 0.5).requires_grad_()
    for weight in (1.0, 0.25):
        got = column_total(x, a, c, weight)
        torch.testing.assert_close(
            got, _column_total_reference(x, a, c, weight), rtol=1e-12, atol=0
        )
        assert torch.autograd.gradcheck(lambda *v, w=weight: column_total(*v, w), (x, a, c))
    # the per-column NLL term, with a log Z slope given as a constant function of alpha
    log_z, slope = torch.rand(4, dtype=torch.float64), torch.rand(4, dtype=torch.float64)
    lz = lambda al: log_z + slope * (al - al.detach())  # noqa: E731  value log_z, slope slope
    got = column_total(x, a, c, 0.5, log_z, slope)
    ref = _column_total_reference(x, a, c, 0.5, lz(a))
    torch.testing.assert_close(got, ref, rtol=1e-12, atol=0)
    grads = torch.autograd.grad(got, (x, a, c))
    ref_grads = torch.autograd.grad(ref, (x, a, c))
    for mine, theirs in zip(grads, ref_grads):
        torch.testing.assert_close(mine, theirs, rtol=1e-9, atol=1e-12)


def test_column_total_overflow_falls_back_and_retains_graph():
    from reprlab.losses.general import column_total

    # float32: x^2 overflows for x = 1e20; the fast path notices and takes the robust one
    x = torch.tensor([[1e20, 1.0], [2.0, -3.0]], requires_grad=True)
    a = torch.tensor([1.0, 0.5], requires_grad=True)
    c = torch.tensor([1.0, 2.0], requires_grad=True)
    out = column_total(x, a, c)
    ref = general_loss(x.detach().double(), a.detach().double(), c.detach().double()).sum()
    assert torch.isfinite(out) and out.item() == pytest.approx(ref.item(), rel=1e-4)
    out.backward()
    assert all(torch.isfinite(t.grad).all() for t in (x, a, c))
    # a retained graph: the second backward recomputes the consumed buffers
    x2 = torch.randn(5, 3, dtype=torch.float64, requires_grad=True)
    a2 = torch.tensor([0.2, 1.2, 1.9], dtype=torch.float64, requires_grad=True)
    out = column_total(x2, a2, torch.ones(3, dtype=torch.float64))
    first = torch.autograd.grad(out, (x2, a2), retain_graph=True)
    second = torch.autograd.grad(out, (x2, a2))
    for f, s in zip(first, second):
        torch.testing.assert_close(f, s, rtol=0, atol=0)
    with torch.no_grad():  # no graph: the buffers go straight back to the workspace
        torch.testing.assert_close(column_total(x2, a2, torch.ones(3, dtype=torch.float64)), out)


def test_reduction_like_torch_losses():
    from reprlab.errors import ConfigError

    x = torch.randn(6, 3, dtype=torch.float64)
    values = general_loss(x, 0.5, 2.0)
    assert general_loss(x, 0.5, 2.0, reduction="none").shape == (6, 3)
    torch.testing.assert_close(general_loss(x, 0.5, 2.0, reduction="mean"), values.mean())
    torch.testing.assert_close(general_loss(x, 0.5, 2.0, reduction="sum"), values.sum())
    with pytest.raises(ConfigError, match="reduction"):
        general_loss(x, 0.5, 2.0, reduction="avg")


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_cauchy_closed_form_equals_the_general_path(dtype):
    """alpha = 0 exactly (Cauchy) takes its own closed form, log(1 + z^2 / 2); its value and
    its gradients for x and scale equal the general (robust) path, which alpha's own gradient
    still takes, and a closed-form hand computation."""
    x0 = torch.linspace(-30, 30, 401, dtype=dtype)
    c0 = torch.tensor(0.7, dtype=dtype)

    def run(alpha_grad: bool):
        x, c = x0.clone().requires_grad_(), c0.clone().requires_grad_()
        alpha = torch.tensor(0.0, dtype=dtype, requires_grad=alpha_grad)
        rho = general_loss(x, alpha, c)
        rho.sum().backward()
        return rho.detach(), x.grad, c.grad

    fast, robust = run(False), run(True)
    for a, b in zip(fast, robust):
        torch.testing.assert_close(a, b, rtol=1e-6, atol=1e-7)
    z = x0 / c0
    torch.testing.assert_close(fast[0], torch.log1p(z * z / 2))
    torch.testing.assert_close(fast[1], z / c0 / (1 + z * z / 2))
    torch.testing.assert_close(fast[2], (-(z * z) / c0 / (1 + z * z / 2)).sum())
    # |x / c| beyond the dtype's range: log space, as before
    huge = torch.tensor([torch.finfo(dtype).max], dtype=dtype)
    assert torch.isfinite(general_loss(huge, torch.tensor(0.0, dtype=dtype), c0)).all()
