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
import threading

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


# --- Per-column fast path: sum over rows of rho(x, alpha, c), one alpha and c per column ------
#
# `AdaptiveLoss` with reduction 'mean' or 'sum' only needs S_j = sum_i rho(x_ij, alpha_j, c_j):
# alpha and c are constants of column j, so every per-column quantity (b = |alpha - 2|,
# alpha / 2, b / alpha, 1 / (c^2 b), ...) is computed once on D values, the per-element work is
# u = x^2 / (c^2 b), L = log1p(u), e1 = expm1(alpha L / 2) (rho = (b / alpha) e1, no `where`),
# and the gradients with respect to alpha and c reduce over the rows to per-column sums:
#
#     d S_j / d alpha_j = u1 sum E L - u2 sum e1 + u3 (sum P - R),   E = e1 + 1, P = E / (1 + u)
#     d S_j / d c_j     = -(1 / c^3) sum x^2 P,                      d rho / dx = x P / c^2
#
# (u1, u2, u3 as in the module docstring, R the number of rows). It takes every column with
# tiny <= alpha != 2 (alpha > 2 included); anything else, or an overflow or NaN (a non-finite
# sum of e1), takes the robust path, so the result always equals `general_loss(...).sum()`.
# The log1p and expm1 passes alone cost ~1 ms for 256 x 784 float32 on one AVX2 thread (about
# 3x a fault-free MSE forward + backward); the rest is ~10 in-place passes and 4 column sums.
# `torch.compile` (inductor, CPU) of these kernels measured slower than this eager version
# (fused forward + backward 3.1 ms against 2.2 ms; the log1p/expm1 chain alone 1.18 against
# 0.96 ms), so there is no compiled variant.


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


def _columns_backward(x, x_factor, v, L, e1, need_x, need_a, need_c):
    """(sum E L, sum P, sum x^2 P, x P x_factor), consuming the forward's buffers in place.

    No full-size allocation: ``e1`` becomes the gradient of x (if wanted), ``v`` and ``L`` go
    back to the workspace.
    """
    s_el = s_p = s_x2p = grad_x = None
    E = e1.add_(1)
    if need_a:
        s_el = L.mul_(E).sum(0)
    P = E.div_(v)  # (1 + u)^(alpha/2 - 1)
    if need_a:
        s_p = P.sum(0)
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
    return s_el, s_p, s_x2p, grad_x


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
    def forward(ctx, x, alpha, scale, weight, log_z, log_z_slope):
        b = (alpha - 2).abs()
        rows = x.shape[0]
        ctx.buffers, ctx.weight, ctx.log_z_slope = None, weight, log_z_slope
        ctx.with_nll = log_z is not None
        ctx.fast = rows > 0 and bool(
            (alpha.min() >= _tiny_alpha(x.dtype)) & (b.min() > 0)  # False for NaN
        )
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
            total = _robust(x / scale, alpha, want_grad=False)[0].sum()
        if ctx.with_nll:
            total = total + rows * (torch.log(scale).sum() + log_z.sum())
        return total * weight

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor):
        need_x, need_a, need_c = ctx.needs_input_grad[:3]
        g = g * ctx.weight
        grad_x = grad_a = grad_c = None
        if not ctx.fast:
            x, a, c = ctx.saved_tensors
            z = x / c
            _, drho_dz, drho_da = _robust(z, a, want_grad=True)
            g_c = g / c
            if need_x:
                grad_x = drho_dz * g_c
            if need_c:
                grad_c = -(drho_dz * z).sum(0) * g_c
            if need_a:
                grad_a = drho_da.sum(0) * g
        else:
            x, a, c, k, half_alpha, s_e1 = ctx.saved_tensors
            buffers, ctx.buffers = ctx.buffers, None
            if buffers is None:  # a second backward through a retained graph
                buffers = _columns_forward(x, half_alpha, k)[:3]
            inv_c2 = torch.reciprocal(c).square_()
            s_el, s_p, s_x2p, grad_x = _columns_backward(
                x, g * inv_c2, *buffers, need_x, need_a, need_c
            )
            del buffers
            if need_a:
                # u1 sum E L - u2 sum e1 + u3 (sum P - R), u1 = b / (2a), u2 = u1 (2 + a) / a
                u1 = (a - 2).abs_().div_(2 * a)
                u2 = (a + 2).div_(a).mul_(u1)
                u3 = 0.5 * torch.sign(a - 2)
                grad_a = (s_el.mul_(u1) - s_e1 * u2).addcmul_(u3, s_p - x.shape[0]).mul_(g)
            if need_c:
                grad_c = s_x2p.mul_(inv_c2).div_(c).mul_(-g)
        if ctx.with_nll:
            rows = x.shape[0]
            g_rows = g * rows
            if need_a:
                grad_a = grad_a.addcmul_(ctx.log_z_slope, g_rows)
            if need_c:
                grad_c = grad_c.addcdiv_(g_rows.expand_as(c), c)
        return grad_x, grad_a, grad_c, None, None, None


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
    return _ColumnTotal.apply(x, alpha, scale, float(weight), log_z, log_z_slope)
