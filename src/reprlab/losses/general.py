"""Barron's general robust loss rho(x, alpha, c), with closed-form derivatives.

Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, Eq. 1-3::

    rho(x, alpha, c) = |alpha - 2| / alpha * (((x / c)^2 / |alpha - 2| + 1)^(alpha / 2) - 1)

with the limits 0.5 z^2 (alpha = 2), log(0.5 z^2 + 1) (alpha = 0), 1 - exp(-0.5 z^2)
(alpha = -inf) and exp(0.5 z^2) - 1 (alpha = +inf), z = x / c.

Writing b = |alpha - 2|, q = z^2 / b, L = log1p(q) and y = alpha L / 2, every finite alpha other
than 2 is evaluated as rho = (b / alpha) expm1(y) = (b L / 2) expm1(y) / y; the second form, with
the series of expm1(y) / y, is used for tiny |alpha| so that alpha = 0 needs no special case and
nothing is divided by a clamped alpha. L is computed from log|z| = log|x| - log c when q > 1,
so neither z^2 nor z itself may overflow: rho(1e30, 0, 1e-30) = 275.6... in float32.

The derivatives are written in closed form (`torch.autograd.Function`) so one pass computes
everything and no unused branch can leak a NaN into a gradient:

    d rho / dx     = (z / c) P,  P = (1 + q)^(alpha/2 - 1) = E / (1 + q)            (Barron, Eq. 4)
    d rho / dc     = -(z^2 / c) P                       (both in logarithms where z overflows)
    d rho / dalpha = b/(2 alpha) E L - b (2 + alpha)/(2 alpha^2) expm1(y) + s/2 (P - 1)
                   = (s / 2) [E (L - w) - L^2 exprel'(y)]
                   = (b / 4) L^3 sum_{N>=3} h_(N-1) / N! (M L)^(N-3),

E = exp(y), s = sign(alpha - 2), w = q / (1 + q), exprel(y) = expm1(y) / y, M = |alpha| / 2 + 1
(`_drho_dalpha` says which form is used where: the terms in L and L^2 cancel exactly, so near
x = 0 only the series keeps the digits). d rho / dalpha grows like log(1 / |alpha - 2|) near
alpha = 2 (rho has a vertical tangent in alpha there); at alpha = 2 exactly it is reported as its
value at alpha = 2 - eps (eps the dtype's machine epsilon), so it stays finite. At alpha = +-inf
it is 0. Second derivatives are not implemented (the function is once differentiable).

Inputs of any floating dtype are computed in float32 or wider (float16 and bfloat16 in float32)
and the result is cast back; `tests/losses/test_general_precision.py` checks values and
gradients against mpmath in float16, bfloat16, float32 and float64.
"""

from __future__ import annotations

import math
import threading

import torch
from torch import Tensor

from reprlab.errors import ConfigError

__all__ = ["general_loss", "rho"]

_HALF_TYPES = (torch.float16, torch.bfloat16)


def _tiny_alpha(dtype: torch.dtype) -> float:
    """Below this |alpha|, rho = (b / alpha) expm1(y) loses digits: use (b L / 2) exprel(y)."""
    return 1e-6 if dtype == torch.float64 else 5e-4


def _big_exponent(dtype: torch.dtype) -> float:
    """exp(y) is safe below this (a margin under log(finfo.max))."""
    return math.log(torch.finfo(dtype).max) - 4.0


def _exprel(y: Tensor) -> Tensor:
    """expm1(y) / y, 1 at y = 0 (series below |y| = 1e-3, error < y^5 / 720)."""
    series = 1 + y * (1 / 2 + y * (1 / 6 + y * (1 / 24 + y / 120)))
    return torch.where(y.abs() < 1e-3, series, torch.expm1(y) / y)


def _exprel_prime_series(y: Tensor) -> Tensor:
    """d/dy [expm1(y) / y] = sum_{n>=1} n y^(n-1) / (n+1)!, for |y| < 0.5 (to n = 14: the
    truncation is below 1e-17 relative)."""
    coefficients = [n / math.factorial(n + 1) for n in range(1, 15)]
    series = torch.full_like(y, coefficients[-1])
    for coefficient in reversed(coefficients[:-1]):
        series = series * y + coefficient
    return series


def _l_minus_w(L: Tensor) -> Tensor:
    """L - w = L + expm1(-L) (w = q / (1 + q) for L = log1p(q)), with a series below 0.5."""
    # L^2 sum_{k>=0} (-L)^k / (k + 2)!, to k = 13: truncation < 1e-17 relative at L = 0.5
    coefficients = [(-1) ** k / math.factorial(k + 2) for k in range(14)]
    series = torch.full_like(L, coefficients[-1])
    for coefficient in reversed(coefficients[:-1]):
        series = series * L + coefficient
    return torch.where(L < 0.5, L * L * series, L + torch.expm1(-L))


def _log_abs_z(x: Tensor, scale: Tensor, z: Tensor) -> Tensor:
    """log|x / scale|, also where x / scale overflows (or underflows to 0 with x != 0)."""
    in_range = torch.isfinite(z) & ((z != 0) | (x == 0))
    return torch.where(in_range, torch.log(z.abs()), torch.log(x.abs()) - torch.log(scale))


def _log1p_z2_over_b(z: Tensor, log_z: Tensor, b: Tensor) -> Tensor:
    """log1p(z^2 / b) for any z and b > 0, from log|z| where z^2 / b > 1 (no overflow)."""
    log_q = 2 * log_z - torch.log(b)  # -inf at z = 0
    large = log_q > 0
    via_log = log_q + torch.log1p(torch.exp(-log_q))
    u = torch.where(large, 0.0, z) * torch.rsqrt(b)
    return torch.where(large, via_log, torch.log1p(u * u))


def _series_terms(dtype: torch.dtype) -> int:
    """Terms of the alpha-derivative series near x = 0 (truncation < eps of the dtype at t = 1)."""
    return 22 if dtype == torch.float64 else 15


def _series_coefficients(a: Tensor, dtype: torch.dtype) -> tuple[Tensor, list[Tensor]]:
    """M = |alpha| / 2 + 1 and the coefficients h_(N-1) / N! of the series of d rho / d alpha.

    With m = alpha / 2, r = m / M, h_2 = 1 and h_k = ((m - 1) / M) h_(k-1) + (k - 1) r^(k-2)
    (computed in float64; the two terms have one sign for m < 0 and m > 1, so nothing cancels),

        d rho / d alpha = (b / 4) L^3 sum_{N>=3} h_(N-1) / N! (M L)^(N-3),   L = log1p(q).

    This is the expansion of d/d alpha [(b / alpha) ((1 + q)^(alpha/2) - 1)] at fixed z in
    powers of L (its terms in L and L^2 cancel exactly); it converges fast for M L <= 1.5.
    """
    m = a.detach().double() / 2
    M = m.abs() + 1
    r, ratio = m / M, (m - 1) / M
    h, r_power, coefficients = torch.ones_like(m), torch.ones_like(m), []
    for n in range(3, 3 + _series_terms(dtype)):
        coefficients.append((h / float(math.factorial(n))).to(dtype))  # h_(n-1) / n!
        r_power = r_power * r  # r^(n-2)
        h = ratio * h + (n - 1) * r_power  # h_n
    return M.to(dtype), coefficients


def _exp_from_expm1(e1: Tensor, L: Tensor, a: Tensor) -> Tensor:
    """E = exp(y), y = alpha L / 2, given e1 = expm1(y): e1 + 1 loses E's digits where E is
    small (alpha < 0), so there E is recomputed."""
    E = e1 + 1
    if bool((a < 0).any()):
        E = torch.where(e1 > -0.5, E, torch.exp(0.5 * a * L))
    return E


def _drho_dalpha(L: Tensor, a: Tensor, e1: Tensor, p: Tensor, big: Tensor | None) -> Tensor:
    """d rho / d alpha at fixed z for finite alpha != 2, from L = log1p(q), e1 = expm1(y),
    p = (1 + q)^(alpha/2 - 1) and y = alpha L / 2 (``big``: where exp(y) would overflow).

    Three forms, each where it is well conditioned (s = sign(alpha - 2), w = q / (1 + q)):
    - M L <= 1.5 (x near 0): the series of `_series_coefficients`; the closed forms below lose
      about log10(1 / q^2) digits there, down to the wrong sign;
    - |alpha - 2| >= 1: (s / 2) [E (L - w) - L^2 exprel'(y)], E = exp(y), which divides by
      nothing (alpha = 0 and tiny alpha included) and stays accurate for alpha -> +-inf;
    - 1 < alpha < 3: u1 E L - u2 e1 + u3 (P - 1), u1 = b / (2 alpha),
      u2 = u1 (2 + alpha) / alpha, u3 = s / 2, every term proportional to b = |alpha - 2|
      (the first form is a difference of two terms whose gap shrinks with b); the exponential
      is folded into a logarithm where it would overflow.
    """
    dtype = L.dtype
    b = (a - 2).abs()
    s = torch.sign(a - 2)
    y = 0.5 * a * L
    out = torch.zeros_like(L)
    far_from_two = b >= 1
    if bool(far_from_two.any()):
        # g = E (L - w) - L^2 exprel'(y); for |y| >= 0.5, exprel'(y) = (E (y - 1) + 1) / y^2,
        # so g = E B - (L / y)^2 with B = (L - w) - L^2 (y - 1) / y^2 (E B via logs if huge)
        E = _exp_from_expm1(e1, L, a)
        l_minus_w = _l_minus_w(L)
        g_small = E * l_minus_w - L * L * _exprel_prime_series(y)
        B = l_minus_w - L * L * ((y - 1) / (y * y))
        EB = torch.where(
            y > 0.5 * _big_exponent(dtype), torch.sign(B) * torch.exp(y + torch.log(B.abs())), E * B
        )
        g = torch.where(y.abs() < 0.5, g_small, EB - torch.square(L / y))
        out = torch.where(far_from_two, 0.5 * s * g, out)
    if not bool(far_from_two.all()):
        a_div = torch.where(a.abs() < _tiny_alpha(dtype), 1.0, a)  # only far from two
        u1 = b / (2 * a_div)
        u2 = b * (2 + a_div) / (2 * a_div * a_div)
        bracket = u1 * L - u2  # E L u1 - u2 e1 = E (u1 L - u2) + u2
        p_minus_1 = torch.expm1(L * (0.5 * a - 1))  # not p - 1: it cancels near alpha = 2
        direct = (e1 + 1) * bracket + u2 + 0.5 * s * p_minus_1
        if big is not None and bool(big.any()):
            # fold P = E / (1 + q) into the exponential so that inf - inf cannot occur
            bracket_big = bracket + 0.5 * s * torch.exp(-L)
            via_log = (
                torch.sign(bracket_big) * torch.exp(y + torch.log(bracket_big.abs())) + u2 - 0.5 * s
            )
            direct = torch.where(big, via_log, direct)
        out = torch.where(far_from_two, out, direct)
    M, coefficients = _series_coefficients(a, dtype)
    t = M * L
    near_zero = t <= 1.5
    if bool(near_zero.any()):
        series = coefficients[-1]
        for coefficient in reversed(coefficients[:-1]):
            series = torch.addcmul(coefficient, series, t)
        series = 0.25 * b * L * L * L * series
        out = torch.where(near_zero, series, out)
    return out


def _robust(x: Tensor, scale: Tensor, alpha: Tensor, want_grad: bool):
    """rho(x, alpha, scale) and, if ``want_grad``, (d rho / dx, d rho / dscale,
    d rho / dalpha), for every case; |x / scale| beyond the dtype's range goes through log|z|."""
    dtype = x.dtype
    z = x / scale
    log_z = _log_abs_z(x, scale, z)
    is_two = alpha == 2
    is_pinf = alpha == math.inf
    is_ninf = alpha == -math.inf
    finite = ~(is_pinf | is_ninf)
    # The general formula at a safe alpha; alpha = 2 is evaluated at 2 - eps for its gradient.
    a = torch.where(finite, alpha, 1.0)
    a = torch.where(is_two, 2 - torch.finfo(dtype).eps, a)
    b = (a - 2).abs()
    tiny = a.abs() < _tiny_alpha(dtype)
    a_div = torch.where(tiny, 1.0, a)  # never divide by a tiny alpha

    L = _log1p_z2_over_b(z, log_z, b)
    y = 0.5 * a * L
    e1 = torch.expm1(y)
    big = y > _big_exponent(dtype)  # only for alpha > 0; exp(y) would overflow on its own
    log_b_over_a = torch.log(b) - torch.log(a_div.abs())
    rho_direct = torch.where(big, torch.exp(y + log_b_over_a) - b / a_div, e1 * (b / a_div))
    rho_tiny = 0.5 * b * L * _exprel(y)
    rho_general = torch.where(tiny, rho_tiny, rho_direct)

    half_z2 = 0.5 * z * z
    rho = torch.where(
        is_two,
        half_z2,
        torch.where(
            is_pinf, torch.expm1(half_z2), torch.where(is_ninf, -torch.expm1(-half_z2), rho_general)
        ),
    )
    if not want_grad:
        return rho, None, None, None

    # d rho / dx = (z / c) rho'(z) and d rho / dc = -z d rho / dx
    log_p = L * (0.5 * a - 1)
    # (1 + q)^(alpha/2 - 1) as exp(y) / (1 + q) (its rounding grows with |y|, not with L)
    q = torch.where(torch.isfinite(z * z), z * z, torch.exp(2 * log_z)) / b
    p = _exp_from_expm1(e1, L, a) / (q + 1)
    p = torch.where(torch.isfinite(p) & (p > 0), p, torch.exp(log_p))
    welsch_slope = torch.where(torch.isfinite(z), z * torch.exp(-half_z2), 0.0)
    drho_dz = torch.where(
        is_two,
        z,
        torch.where(
            is_pinf,
            z * torch.exp(half_z2),
            torch.where(is_ninf, welsch_slope, z * p),
        ),
    )
    drho_dx = drho_dz / scale
    drho_dc = torch.where(drho_dx == 0, 0.0, -z * drho_dx)  # 0, not NaN, where z overflows
    # general finite alpha where z or z p overflows, or p underflows: in logarithms
    in_range = torch.isfinite(z) & (p >= torch.finfo(dtype).tiny) & torch.isfinite(drho_dx)
    log_space = finite & ~is_two & ~in_range
    if bool(log_space.any()):
        log_dx = log_z + log_p - torch.log(scale)
        drho_dx = torch.where(log_space, torch.sign(x) * torch.exp(log_dx), drho_dx)
        drho_dc = torch.where(log_space, -torch.exp(log_dx + log_z), drho_dc)
    drho_da = torch.where(finite, _drho_dalpha(L, a, e1, p, big), 0.0)
    return rho, drho_dx, drho_dc, drho_da


def _fast_ok(alpha: Tensor) -> bool:
    """Whether every alpha is finite, not 2 and not tiny (the one-formula fast path)."""
    a = alpha.detach()
    if a.numel() == 0:
        return True
    return bool(
        torch.isfinite(a).all() and (a != 2).all() and (a.abs() >= _tiny_alpha(a.dtype)).all()
    )


def _all_zero(alpha: Tensor) -> bool:
    """Whether every alpha is exactly 0 (the Cauchy case, with its own closed form)."""
    a = alpha.detach()
    return a.numel() > 0 and not bool(a.any())


def _sum_to(grad: Tensor, like: Tensor) -> Tensor:
    return grad.sum_to_size(like.shape) if grad.shape != like.shape else grad


def _expanded_scalar(grad: Tensor) -> Tensor | None:
    """The single value of an expanded (stride-0) gradient, e.g. from ``.mean()``, else None."""
    if grad.numel() > 1 and all(st == 0 for st in grad.stride()):
        return grad.reshape(-1)[:1].reshape(())
    return None


class _GeneralLoss(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x: Tensor, alpha: Tensor, scale: Tensor) -> Tensor:
        dtype = x.dtype
        fast = _fast_ok(alpha)
        if fast:
            a = alpha
            b = (a - 2).abs()
            k = 1 / (b * scale * scale)
            q = x * x * k
            L = torch.log1p(q)
            l_max = float(L.max()) if L.numel() else 0.0
            a_max = float(a.max()) if a.numel() else 0.0
            fast = math.isfinite(l_max) and 0.5 * max(a_max, 0.0) * l_max < _big_exponent(dtype)
        ctx.cauchy = False
        if fast:
            e1 = torch.expm1(L * (0.5 * a))
            rho = e1 * (b / a)
            ctx.save_for_backward(x, alpha, scale, q, L, e1)
        elif _all_zero(alpha):  # Cauchy: rho = log(1 + q), q = z^2 / 2, while q is finite
            q = x * x * (0.5 / (scale * scale))
            rho = torch.log1p(q)
            ctx.cauchy = not q.numel() or math.isfinite(float(q.max()))
            if not ctx.cauchy:
                rho = _robust(x, scale, alpha, want_grad=False)[0]
            ctx.save_for_backward(x, alpha, scale, q)
        else:
            rho = _robust(x, scale, alpha, want_grad=False)[0]
            ctx.save_for_backward(x, alpha, scale)
        ctx.fast = fast
        return rho

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        need_x, need_a, need_c = ctx.needs_input_grad
        if ctx.fast:
            x, alpha, scale, q, L, e1 = ctx.saved_tensors
            grads = _fast_backward(grad, x, alpha, scale, q, L, e1, need_x, need_a, need_c)
            if grads is not None:
                return grads
        if ctx.cauchy and not need_a:  # d rho / dx = 2 q / (x (1 + q)), d rho / dc = -z d rho / dx
            x, alpha, scale, q = ctx.saved_tensors
            slope = grad / (1 + q)
            grad_x = _sum_to(slope * x / (scale * scale), x) if need_x else None
            grad_c = _sum_to(slope * q * (-2 / scale), scale) if need_c else None
            return grad_x, None, grad_c
        x, alpha, scale = ctx.saved_tensors[:3]
        _, drho_dx, drho_dc, drho_da = _robust(x, scale, alpha, want_grad=True)
        grad_x = grad_a = grad_c = None
        if need_x:
            grad_x = _sum_to(grad * drho_dx, x)
        if need_c:
            grad_c = _sum_to(grad * drho_dc, scale)
        if need_a:
            grad_a = _sum_to(grad * drho_da, alpha)
        return grad_x, grad_a, grad_c


def _fast_backward(grad, x, alpha, scale, q, L, e1, need_x, need_a, need_c):
    """Closed-form gradients for finite alpha != 2 (see the module docstring)."""
    a = alpha
    g = _expanded_scalar(grad)
    E = _exp_from_expm1(e1, L, a)
    p = E.div_(torch.add(q, 1))  # (1 + q)^(alpha/2 - 1)
    if bool((p < torch.finfo(p.dtype).tiny).any()):
        return None  # (1 + q)^(alpha/2 - 1) underflows: the robust path works in logarithms
    grad_x = grad_a = grad_c = None
    if need_x or need_c:
        inv_c2 = 1 / (scale * scale)
        gx = torch.mul(x, p).mul_(inv_c2 if g is None else inv_c2 * g)
        if g is None:
            gx = gx.mul_(grad)
        if need_c:
            grad_c = -_sum_to(x * gx, scale) / scale
        if need_x:
            grad_x = _sum_to(gx, x)
    if need_a:
        d = _drho_dalpha(L, a, e1, p, None)
        grad_a = _sum_to(d.mul_(grad if g is None else g), a)
    return grad_x, grad_a, grad_c


def _dtypes(x, alpha, scale) -> tuple[torch.dtype, torch.dtype, torch.device | None]:
    """(result dtype, computing dtype, device): the result has the promoted floating dtype of
    the tensor arguments (Python numbers do not count); the computation runs in it or in
    float32, whichever is wider, so half-precision inputs are computed in float32."""
    tensors = [v for v in (x, alpha, scale) if isinstance(v, Tensor)]
    floating = [t.dtype for t in tensors if t.is_floating_point()]
    dtype = floating[0] if floating else torch.get_default_dtype()
    for other in floating[1:]:
        dtype = torch.promote_types(dtype, other)
    device = tensors[0].device if tensors else None
    return dtype, torch.promote_types(dtype, torch.float32), device


def general_loss(
    x: Tensor | float,
    alpha: Tensor | float,
    scale: Tensor | float,
    reduction: str = "none",
) -> Tensor:
    """Barron's general robust loss rho(x, alpha, scale), elementwise (CVPR 2019, Eq. 1-3).

    ``x``, ``alpha`` and ``scale`` broadcast against each other and may be tensors or Python
    floats; ``alpha`` may hold +-inf; ``scale`` must be positive. rho is 0 at x = 0, grows
    with |x|, behaves like 0.5 (x/c)^2 near 0, and is bounded by |alpha - 2| / |alpha| for
    alpha < 0. The result has the promoted dtype of the tensor arguments; it is computed in
    float32 or wider (half-precision inputs in float32), and each gradient comes back in its
    argument's dtype. ``reduction`` ('none', the default, 'mean' or 'sum') reduces like
    ``torch.nn``.
    """
    if reduction not in ("none", "mean", "sum"):
        raise ConfigError(f"unknown reduction {reduction!r}; use one of: mean, sum, none")
    dtype, compute, device = _dtypes(x, alpha, scale)
    x, alpha, scale = (
        v.to(compute) if isinstance(v, Tensor) else torch.tensor(v, dtype=compute, device=device)
        for v in (x, alpha, scale)
    )
    if not bool((scale.detach() > 0).all()):
        raise ValueError("general_loss: scale must be positive everywhere")
    if bool(torch.isnan(alpha.detach()).any()):
        raise ValueError("general_loss: alpha contains NaN")
    out = _GeneralLoss.apply(x, alpha, scale).to(dtype)
    return out if reduction == "none" else out.sum() if reduction == "sum" else out.mean()


rho = general_loss


# --- Per-column fast path: sum over rows of rho(x, alpha, c), one alpha and c per column ------
#
# `AdaptiveLoss` with reduction 'mean' or 'sum' only needs S_j = sum_i rho(x_ij, alpha_j, c_j):
# alpha and c are constants of column j, so every per-column quantity (b = |alpha - 2|,
# alpha / 2, b / alpha, 1 / (c^2 b), ...) is computed once on D values, the per-element work is
# u = x^2 / (c^2 b), L = log1p(u), e1 = expm1(alpha L / 2) (rho = (b / alpha) e1, no `where`),
# and the gradients with respect to alpha and c reduce over the rows to per-column sums:
#
#     d S_j / d alpha_j = sum_i d rho_ij / d alpha_j  (per element, `_drho_dalpha`)
#     d S_j / d c_j     = -(1 / c^3) sum x^2 P,   d rho / dx = x P / c^2,   P = (e1 + 1) / (1 + u)
#
# (d rho / d alpha is summed per element: its closed forms cancel near x = 0, so a sum of them
# cannot be formed from column sums of E L, e1 and P). It takes every column with
# tiny <= alpha != 2 (alpha > 2 included); anything else, or an overflow or NaN (a non-finite
# sum of e1), takes the robust path, so the result always equals `general_loss(...).sum()`.
# The log1p and expm1 passes alone cost ~1 ms for 256 x 784 float32 on one AVX2 thread (about
# 3x a fault-free MSE forward + backward). `torch.compile` (inductor, CPU) of these kernels
# measured slower than this eager version (fused forward + backward 3.1 ms against 2.2 ms; the
# log1p/expm1 chain alone 1.18 against 0.96 ms), so there is no compiled variant.


class _Workspace:
    """A small free-list of full-size CPU buffers, reused across calls of the per-column kernel.

    glibc hands freed heap memory above ~1.6 MB back to the system, so fresh 256 x 784 buffers
    are page-faulted in again on every call, which can cost more than the arithmetic on them.
    A buffer is either here or owned by exactly one autograd graph (whose backward hands two
    back and returns the third as the gradient of x), so reuse is safe; a graph dropped
    without a backward just lets its buffers be freed. At most ``limit`` buffers and
    ``max_bytes`` bytes are kept (CPU only; CUDA has its caching allocator); `clear` drops them.
    """

    def __init__(self, limit: int = 4, max_bytes: int = 64 << 20) -> None:
        self.limit, self.max_bytes = limit, max_bytes
        self._free: list[Tensor] = []
        self._lock = threading.Lock()

    def take(self, like: Tensor) -> Tensor:
        if like.device.type == "cpu" and not torch.is_inference_mode_enabled():
            with self._lock:
                for i, buf in enumerate(self._free):
                    if buf.shape == like.shape and buf.dtype == like.dtype:
                        return self._free.pop(i)
        return torch.empty(like.shape, dtype=like.dtype, device=like.device)

    def give(self, *buffers: Tensor) -> None:
        with self._lock:
            self._free.extend(b for b in buffers if b.device.type == "cpu" and not b.is_inference())
            while len(self._free) > self.limit or (
                sum(b.numel() * b.element_size() for b in self._free) > self.max_bytes
            ):
                self._free.pop(0)

    def clear(self) -> None:
        with self._lock:
            self._free.clear()


_WORKSPACE = _Workspace()


def _columns_forward(x: Tensor, half_alpha: Tensor, k: Tensor):
    """(1 + u, L, e1, sum over rows of e1) in three workspace buffers, all in place."""
    v = torch.mul(x, x, out=_WORKSPACE.take(x)).mul_(k)  # u = x^2 / (c^2 b)
    L = torch.log1p(v, out=_WORKSPACE.take(x))
    e1 = torch.mul(L, half_alpha, out=_WORKSPACE.take(x)).expm1_()
    return v.add_(1), L, e1, e1.sum(0)


def _columns_backward(x, x_factor, v, L, e1, need_x, need_c):
    """(sum x^2 P, x P x_factor), consuming the forward's buffers in place.

    No full-size allocation: ``e1`` becomes the gradient of x (if wanted), ``v`` and ``L`` go
    back to the workspace.
    """
    s_x2p = grad_x = None
    P = e1.add_(1).div_(v)  # (1 + u)^(alpha/2 - 1)
    if need_x or need_c:
        xp = P.mul_(x)
        if need_c:
            s_x2p = torch.mul(xp, x, out=v).sum(0)
        if need_x:
            grad_x = xp.mul_(x_factor)
    if need_x:
        _WORKSPACE.give(v, L)
    else:
        _WORKSPACE.give(v, L, e1)
    return s_x2p, grad_x


def _kernel_usable(x: Tensor, alpha: Tensor) -> bool:
    from reprlab.losses import adaptive_kernel

    return _USE_KERNEL and adaptive_kernel.usable(x, alpha)


def _run_kernel(x: Tensor, alpha: Tensor, scale: Tensor):
    """(x P, sum x^2 P, sum d rho / d alpha, sum e1) from the fused CPU kernel
    (`reprlab.losses.adaptive_kernel`), or None where it declines (the eager path then runs)."""
    from reprlab.losses import adaptive_kernel

    gx = _WORKSPACE.take(x)
    sums = adaptive_kernel.columns(x, alpha, scale, gx)
    if sums is None or not bool(torch.isfinite(sums[0]).all()):
        _WORKSPACE.give(gx)
        return None
    s_e1, s_x2p, s_da = sums
    return gx, s_x2p, s_da, s_e1


#: Whether `_ColumnTotal` may use the fused CPU kernel (tests compare it with the eager path).
_USE_KERNEL = True


class _ColumnTotal(torch.autograd.Function):
    """weight * sum_j [S_j + R (log c_j + log_z_j)], S_j = sum_i rho(x_ij, alpha_j, c_j).

    x is 2-D (R rows, D columns), alpha and c 1-D; ``log_z`` and ``log_z_slope`` (its
    derivative in alpha) are given per column, or None to leave the per-column term out. One
    Function for the whole reduced NLL keeps the autograd graph to a single node.

    The forward's three full-size buffers live on ``ctx`` rather than in `save_for_backward`
    because the backward consumes them in place (and returns one as the gradient of x); a
    second backward through a retained graph recomputes them from the saved inputs.
    """

    @staticmethod
    def forward(ctx, x, alpha, scale, weight, log_z, log_z_slope, grad_enabled):
        b = (alpha - 2).abs()
        rows = x.shape[0]
        ctx.buffers, ctx.weight, ctx.log_z_slope = None, weight, log_z_slope
        ctx.with_nll = log_z is not None
        ctx.fast = rows > 0 and bool(
            (alpha.min() >= _tiny_alpha(x.dtype)) & (b.min() > 0)  # False for NaN
        )
        ctx.kernel = None
        wants_grad = grad_enabled and any(ctx.needs_input_grad[:3])
        if ctx.fast and wants_grad and _kernel_usable(x, alpha):
            ctx.kernel = _run_kernel(x, alpha, scale)
            if ctx.kernel is not None:  # the fused kernel: value and gradients in one pass
                ctx.save_for_backward(x, alpha, scale)
                total = torch.dot(ctx.kernel[3], b.div_(alpha))
                if ctx.with_nll:
                    total = total + rows * (torch.log(scale).sum() + log_z.sum())
                return total * weight
        if ctx.fast:
            k = torch.mul(scale, scale).mul_(b).reciprocal_()  # 1 / (c^2 b)
            half_alpha = 0.5 * alpha
            v, L, e1, s_e1 = _columns_forward(x, half_alpha, k)
            ctx.fast = bool(torch.isfinite(s_e1).all())  # an overflow or a NaN: go robust
            if ctx.fast and any(ctx.needs_input_grad[:3]):
                ctx.buffers = (v, L, e1)
            else:
                _WORKSPACE.give(v, L, e1)
        if ctx.fast:
            ctx.save_for_backward(x, alpha, scale, k, half_alpha, s_e1)
            total = torch.dot(s_e1, b.div_(alpha))
        else:
            ctx.save_for_backward(x, alpha, scale)
            total = _robust(x, scale, alpha, want_grad=False)[0].sum()
        if ctx.with_nll:
            total = total + rows * (torch.log(scale).sum() + log_z.sum())
        return total * weight

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor):
        need_x, need_a, need_c = ctx.needs_input_grad[:3]
        g = g * ctx.weight
        grad_x = grad_a = grad_c = None
        if ctx.kernel is not None:
            x, a, c = ctx.saved_tensors
            (gx, s_x2p, s_da, _), ctx.kernel = ctx.kernel, (None,) * 4
            if gx is None:  # a second backward through a retained graph
                gx, s_x2p, s_da, _ = _run_kernel(x, a, c)
            inv_c2 = torch.reciprocal(c).square_()
            if need_x:
                grad_x = gx.mul_(g * inv_c2)
            else:
                _WORKSPACE.give(gx)
            if need_c:
                grad_c = s_x2p.mul_(inv_c2).div_(c).mul_(-g)
            if need_a:
                grad_a = s_da.mul_(g)
        elif not ctx.fast:
            x, a, c = ctx.saved_tensors
            _, drho_dx, drho_dc, drho_da = _robust(x, c, a, want_grad=True)
            if need_x:
                grad_x = drho_dx * g
            if need_c:
                grad_c = drho_dc.sum(0) * g
            if need_a:
                grad_a = drho_da.sum(0) * g
        else:
            x, a, c, k, half_alpha, _ = ctx.saved_tensors
            buffers, ctx.buffers = ctx.buffers, None
            if buffers is None:  # a second backward through a retained graph
                buffers = _columns_forward(x, half_alpha, k)[:3]
            inv_c2 = torch.reciprocal(c).square_()
            if need_a:  # per element (`_drho_dalpha`): its terms cancel near x = 0
                v, L, e1 = buffers
                grad_a = _drho_dalpha(L, a, e1, (e1 + 1) / v, None).sum(0).mul_(g)
            s_x2p, grad_x = _columns_backward(x, g * inv_c2, *buffers, need_x, need_c)
            del buffers
            if need_c:
                grad_c = s_x2p.mul_(inv_c2).div_(c).mul_(-g)
        if ctx.with_nll:
            rows = x.shape[0]
            g_rows = g * rows
            if need_a:
                grad_a = grad_a.addcmul_(ctx.log_z_slope, g_rows)
            if need_c:
                grad_c = grad_c.addcdiv_(g_rows.expand_as(c), c)
        return grad_x, grad_a, grad_c, None, None, None, None


class _ColumnElementwise(torch.autograd.Function):
    """rho(x_ij, alpha_j, c_j) for 2-D x and 1-D alpha, c (finite, >= tiny, != 2), from the
    fused CPU kernel: the forward also keeps x P and d rho / d alpha per element, so the
    backward is three cheap passes. Where the kernel declines it takes `_robust`."""

    @staticmethod
    def forward(ctx, x, alpha, scale):
        from reprlab.losses import adaptive_kernel

        rho, da, gx = torch.empty_like(x), torch.empty_like(x), _WORKSPACE.take(x)
        ctx.kernel = adaptive_kernel.columns(x, alpha, scale, gx, rho, da) is not None
        if ctx.kernel:
            ctx.save_for_backward(x, scale, gx, da)
            return rho
        _WORKSPACE.give(gx)
        ctx.save_for_backward(x, alpha, scale)
        return _robust(x, scale, alpha, want_grad=False)[0]

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor):
        need_x, need_a, need_c = ctx.needs_input_grad
        grad_x = grad_a = grad_c = None
        if not ctx.kernel:
            x, a, c = ctx.saved_tensors
            _, drho_dx, drho_dc, drho_da = _robust(x, c, a, want_grad=True)
            return (
                g * drho_dx if need_x else None,
                (g * drho_da).sum(0) if need_a else None,
                (g * drho_dc).sum(0) if need_c else None,
            )
        x, c, gx, da = ctx.saved_tensors
        inv_c2 = torch.reciprocal(c).square_()
        if need_a:
            grad_a = torch.mul(g, da).sum(0)
        if need_c:
            grad_c = torch.mul(g, x).mul_(gx).sum(0).mul_(inv_c2).div_(c).neg_()
        if need_x:
            grad_x = torch.mul(gx, g).mul_(inv_c2)
        return grad_x, grad_a, grad_c


def column_elementwise(x: Tensor, alpha: Tensor, scale: Tensor) -> Tensor:
    """rho(x, alpha, scale) for 2-D ``x`` (R rows, D columns) and per-column 1-D ``alpha`` and
    ``scale``: `general_loss` with the fused CPU kernel where it can run (`AdaptiveLoss` with
    reduction 'none'), else `general_loss` itself."""
    a = alpha.detach()
    fast = (
        x.shape[0] > 0
        and bool(((a >= _tiny_alpha(x.dtype)) & (a != 2) & torch.isfinite(a)).all())
        and torch.is_grad_enabled()
        and any(t.requires_grad for t in (x, alpha, scale))
        and _kernel_usable(x, alpha)
    )
    if fast:
        return _ColumnElementwise.apply(x.contiguous(), alpha, scale)
    return _GeneralLoss.apply(x, alpha, scale)


def column_total(
    x: Tensor,
    alpha: Tensor,
    scale: Tensor,
    weight: float = 1.0,
    log_z: Tensor | None = None,
    log_z_slope: Tensor | None = None,
) -> Tensor:
    """weight * sum of rho(x, alpha, scale) [+ R (log scale + log_z) per column], a scalar.

    The fast path for per-dimension parameters (see above): ``x`` is 2-D (R rows, D columns),
    ``alpha`` and ``scale`` (> 0) are 1-D per-column parameters. Without ``log_z`` it equals
    ``weight * general_loss(x, alpha, scale).sum()``; with it (and its derivative
    ``log_z_slope``, both 1-D, treated as functions of alpha) it is the reduced NLL of
    `AdaptiveLoss`. Closed-form gradients for x, alpha and scale.
    """
    if (log_z is None) != (log_z_slope is None):
        raise ValueError("column_total: pass both log_z and log_z_slope, or neither")
    grad_enabled = torch.is_grad_enabled()  # the forward itself runs without grad mode
    return _ColumnTotal.apply(x, alpha, scale, float(weight), log_z, log_z_slope, grad_enabled)
