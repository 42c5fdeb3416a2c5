"""Barron's general robust loss rho(x, alpha, c), with closed-form derivatives.

Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, Eq. 1-3::

    rho(x, alpha, c) = |alpha - 2| / alpha * (((x / c)^2 / |alpha - 2| + 1)^(alpha / 2) - 1)

with the limits 0.5 z^2 (alpha = 2), log(0.5 z^2 + 1) (alpha = 0), 1 - exp(-0.5 z^2)
(alpha = -inf) and exp(0.5 z^2) - 1 (alpha = +inf), z = x / c.

Writing b = |alpha - 2|, q = z^2 / b, L = log1p(q) and y = alpha L / 2, every finite alpha other
than 2 is evaluated as rho = (b / alpha) expm1(y) = (b L / 2) expm1(y) / y; the second form, with
the series of expm1(y) / y, is used for tiny |alpha| so that alpha = 0 needs no special case and
nothing is divided by a clamped alpha. L is computed as log q + log1p(1 / q) when q > 1, so
z^2 never overflows.

The derivatives are written in closed form (`torch.autograd.Function`) so one pass computes
everything and no unused branch can leak a NaN into a gradient:

    d rho / dx     = (z / c) P,  P = (1 + q)^(alpha/2 - 1)                      (Barron, Eq. 4)
    d rho / dc     = -(z / c) d rho / dx * c = -(z^2 / c) P
    d rho / dalpha = b/(2 alpha) E L - b (2 + alpha)/(2 alpha^2) expm1(y) + s/2 (P - 1),

E = exp(y), s = sign(alpha - 2). d rho / dalpha grows like log(1 / |alpha - 2|) near alpha = 2
(rho has a vertical tangent in alpha there); at alpha = 2 exactly it is reported as its value at
alpha = 2 - eps (eps the dtype's machine epsilon), so it stays finite. At alpha = +-inf it is 0.
Second derivatives are not implemented (the function is once differentiable).
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["general_loss", "rho"]

_HALF_TYPES = (torch.float16, torch.bfloat16)


def _tiny_alpha(dtype: torch.dtype) -> float:
    """Below this |alpha|, d rho / d alpha in closed form loses digits (error ~ eps / alpha)."""
    return 1e-6 if dtype == torch.float64 else 5e-4


def _big_exponent(dtype: torch.dtype) -> float:
    """exp(y) is safe below this (a margin under log(finfo.max))."""
    return math.log(torch.finfo(dtype).max) - 4.0


def _exprel(y: Tensor) -> Tensor:
    """expm1(y) / y, 1 at y = 0 (series below |y| = 1e-3, error < y^5 / 720)."""
    series = 1 + y * (1 / 2 + y * (1 / 6 + y * (1 / 24 + y / 120)))
    return torch.where(y.abs() < 1e-3, series, torch.expm1(y) / y)


def _exprel_prime(y: Tensor) -> Tensor:
    """d/dy [expm1(y) / y] = (exp(y) (y - 1) + 1) / y^2, with a series below |y| = 0.1."""
    # sum_{n>=1} n y^(n-1) / (n+1)!, truncated after y^6: error < 1e-11 relative at |y| = 0.1
    coefficients = [n / math.factorial(n + 1) for n in range(1, 8)]
    series = torch.full_like(y, coefficients[-1])
    for coefficient in reversed(coefficients[:-1]):
        series = series * y + coefficient
    direct = (torch.exp(y) * (y - 1) + 1) / (y * y)
    return torch.where(y.abs() < 0.1, series, direct)


def _log1p_z2_over_b(z: Tensor, b: Tensor) -> Tensor:
    """log1p(z^2 / b) without overflowing z^2, for any finite z and b > 0."""
    log_q = 2 * torch.log(z.abs()) - torch.log(b)  # -inf at z = 0
    large = log_q > 0
    via_log = log_q + torch.log1p(torch.exp(-log_q))
    u = torch.where(large, 0.0, z) * torch.rsqrt(b)
    return torch.where(large, via_log, torch.log1p(u * u))


def _robust(z: Tensor, alpha: Tensor, want_grad: bool):
    """rho(z, alpha, 1) and, if ``want_grad``, (d rho / dz, d rho / dalpha), for every case."""
    dtype = z.dtype
    is_two = alpha == 2
    is_pinf = alpha == math.inf
    is_ninf = alpha == -math.inf
    finite = ~(is_pinf | is_ninf)
    # The general formula at a safe alpha; alpha = 2 is evaluated at 2 - eps for its gradient.
    a = torch.where(finite, alpha, 1.0)
    a = torch.where(is_two, 2 - torch.finfo(dtype).eps, a)
    b = (a - 2).abs()
    s = torch.sign(a - 2)
    tiny = a.abs() < _tiny_alpha(dtype)
    a_div = torch.where(tiny, 1.0, a)  # never divide by a tiny alpha

    L = _log1p_z2_over_b(z, b)
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
        return rho, None, None

    # d rho / dz
    p = torch.exp(L * (0.5 * a - 1))  # (1 + q)^(alpha/2 - 1)
    drho_dz = torch.where(
        is_two,
        z,
        torch.where(
            is_pinf,
            z * torch.exp(half_z2),
            torch.where(is_ninf, z * torch.exp(-half_z2), z * p),
        ),
    )
    # d rho / dalpha, direct form: u1 E L - u2 expm1(y) + u3 (P - 1)
    u1 = b / (2 * a_div)
    u2 = b * (2 + a_div) / (2 * a_div * a_div)
    bracket = u1 * L - u2  # E L u1 - u2 e1 = E (u1 L - u2) + u2
    # For huge exp(y) fold P = E / (1 + q) into the exponential so that inf - inf cannot occur.
    bracket_big = bracket + 0.5 * s * torch.exp(-L)
    via_log = torch.sign(bracket_big) * torch.exp(y + torch.log(bracket_big.abs())) + u2 - 0.5 * s
    drho_da_direct = torch.where(big, via_log, (e1 + 1) * bracket + u2 + 0.5 * s * (p - 1))
    # tiny alpha: d/da [(b L / 2) R(y)] = (s/2) R (L - w) + (b L / 4) R'(y) (L - (a s / b) w)
    w = -torch.expm1(-L)  # q / (1 + q)
    drho_da_tiny = 0.5 * s * _exprel(y) * (L - w) + 0.25 * b * L * _exprel_prime(y) * (
        L - (a * s / b) * w
    )
    drho_da = torch.where(tiny, drho_da_tiny, drho_da_direct)
    drho_da = torch.where(finite, drho_da, 0.0)
    return rho, drho_dz, drho_da


def _fast_ok(alpha: Tensor) -> bool:
    """Whether every alpha is finite, not 2 and not tiny (the one-formula fast path)."""
    a = alpha.detach()
    if a.numel() == 0:
        return True
    return bool(
        torch.isfinite(a).all() and (a != 2).all() and (a.abs() >= _tiny_alpha(a.dtype)).all()
    )


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
        if fast:
            e1 = torch.expm1(L * (0.5 * a))
            rho = e1 * (b / a)
            ctx.save_for_backward(x, alpha, scale, q, L, e1)
        else:
            z = x / scale
            rho, _, _ = _robust(z, alpha, want_grad=False)
            ctx.save_for_backward(x, alpha, scale)
        ctx.fast = fast
        return rho

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad: Tensor):
        need_x, need_a, need_c = ctx.needs_input_grad
        if ctx.fast:
            x, alpha, scale, q, L, e1 = ctx.saved_tensors
            return _fast_backward(grad, x, alpha, scale, q, L, e1, need_x, need_a, need_c)
        x, alpha, scale = ctx.saved_tensors
        z = x / scale
        _, drho_dz, drho_da = _robust(z, alpha, want_grad=True)
        grad_x = grad_a = grad_c = None
        g_dz = grad * drho_dz
        if need_x:
            grad_x = _sum_to(g_dz / scale, x)
        if need_c:
            grad_c = _sum_to(-(g_dz * z) / scale, scale)
        if need_a:
            grad_a = _sum_to(grad * drho_da, alpha)
        return grad_x, grad_a, grad_c


def _fast_backward(grad, x, alpha, scale, q, L, e1, need_x, need_a, need_c):
    """Closed-form gradients for finite alpha != 2 (see the module docstring)."""
    a = alpha
    b = (a - 2).abs()
    g = _expanded_scalar(grad)
    p = torch.add(e1, 1).div_(torch.add(q, 1))  # (1 + q)^(alpha/2 - 1)
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
        u1 = b / (2 * a)
        u2 = b * (2 + a) / (2 * a * a)
        u3 = 0.5 * torch.sign(a - 2)
        # d rho / d alpha = u1 (e1 + 1) L - u2 e1 + u3 (P - 1)
        el = torch.addcmul(L, e1, L)  # (e1 + 1) L
        if g is None:
            d = el.mul_(u1).sub_(e1 * u2).add_((p - 1).mul_(u3)).mul_(grad)
            grad_a = _sum_to(d, a)
        else:
            sum_el = _sum_to(el, a)
            sum_e1 = _sum_to(e1, a)
            sum_p1 = _sum_to(p.sub_(1), a)
            grad_a = (u1 * sum_el - u2 * sum_e1 + u3 * sum_p1) * g
    return grad_x, grad_a, grad_c


def _as_tensors(x, alpha, scale) -> tuple[Tensor, Tensor, Tensor]:
    """Tensors of one floating dtype on x's device (Python numbers take the tensors' dtype)."""
    tensors = [v for v in (x, alpha, scale) if isinstance(v, Tensor)]
    floating = [t.dtype for t in tensors if t.is_floating_point()]
    dtype = floating[0] if floating else torch.get_default_dtype()
    for other in floating[1:]:
        dtype = torch.promote_types(dtype, other)
    device = tensors[0].device if tensors else None
    return tuple(torch.as_tensor(v, dtype=dtype, device=device) for v in (x, alpha, scale))


def general_loss(x: Tensor | float, alpha: Tensor | float, scale: Tensor | float) -> Tensor:
    """Barron's general robust loss rho(x, alpha, scale), elementwise (CVPR 2019, Eq. 1-3).

    ``x``, ``alpha`` and ``scale`` broadcast against each other and may be tensors or Python
    floats; ``alpha`` may hold +-inf; ``scale`` must be positive. rho is 0 at x = 0, grows
    with |x|, behaves like 0.5 (x/c)^2 near 0, and is bounded by |alpha - 2| / |alpha| for
    alpha < 0. Half-precision inputs are computed in float32 and cast back.
    """
    x, alpha, scale = _as_tensors(x, alpha, scale)
    if not bool((scale.detach() > 0).all()):
        raise ValueError("general_loss: scale must be positive everywhere")
    if bool(torch.isnan(alpha.detach()).any()):
        raise ValueError("general_loss: alpha contains NaN")
    dtype = x.dtype
    if dtype in _HALF_TYPES:
        out = _GeneralLoss.apply(x.float(), alpha.float(), scale.float())
        return out.to(dtype)
    return _GeneralLoss.apply(x, alpha, scale)


rho = general_loss
