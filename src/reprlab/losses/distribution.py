"""The general distribution p(x | mu, alpha, c) = exp(-rho(x - mu, alpha, c)) / (c Z(alpha)).

Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, Sec. 2 (Eq. 16-17) and
appendix. Z(alpha) = int exp(-rho(x, alpha, 1)) dx is finite for alpha >= 0 only: alpha = 0 is
Cauchy(0, c sqrt 2) (Z = pi sqrt 2), alpha = 2 is Normal(0, c) (Z = sqrt(2 pi)).

log Z comes from a table computed by numerical integration (``scripts/make_partition_table.py``)
on the axis u = alpha / (1 + alpha) in [0, 1], interpolated by cubic Hermite splines with
the integrated derivatives, so it is differentiable in alpha. log Z has a (alpha - 2)
log|alpha - 2| term, so its derivative is unbounded at alpha = 2; the knots grade towards 2
and the table's gradient there is a finite secant.
"""

from __future__ import annotations

import math
from functools import lru_cache
from importlib import resources

import numpy as np
import torch
from torch import Tensor

from reprlab.errors import ConfigError
from reprlab.losses.general import general_loss

__all__ = ["log_partition", "nll", "sample"]

_TABLE = "partition_table.npz"


@lru_cache(maxsize=1)
def _table_numpy() -> dict[str, np.ndarray]:
    with resources.files("reprlab.losses").joinpath(_TABLE).open("rb") as fh:
        data = np.load(fh)
        return {key: data[key] for key in ("u", "log_z", "d_left", "d_right")}


@lru_cache(maxsize=8)
def _table(device: torch.device) -> dict[str, Tensor]:
    return {
        k: torch.as_tensor(v, dtype=torch.float64, device=device) for k, v in _table_numpy().items()
    }


def _check_alpha(alpha: Tensor, what: str) -> None:
    a = alpha.detach()
    if bool(torch.isnan(a).any()) or bool((a < 0).any()):
        raise ConfigError(
            f"{what}: alpha must be >= 0 (Z(alpha) is infinite for alpha < 0); got min "
            f"{float(a.min()) if a.numel() else float('nan')}. Use alpha in [0, inf]."
        )


def _spline(u: Tensor) -> tuple[Tensor, Tensor]:
    """The table's cubic Hermite spline of log Z on the axis u = alpha / (1 + alpha) in [0, 1]
    (a point on a knot belongs to the interval on its right), in Horner form: its value and
    its derivative in u. Differentiable in ``u`` by autograd."""
    t = _table(u.device)
    knots = t["u"]
    i = torch.searchsorted(knots, u.detach(), right=True).sub_(1).clamp_(0, knots.numel() - 2)
    u0 = knots[i]
    h = knots[i + 1] - u0
    s = (u - u0) / h
    y0 = t["log_z"][i]
    delta = t["log_z"][i + 1] - y0
    m0 = t["d_left"][i] * h
    m1 = t["d_right"][i] * h
    c2 = 3 * delta - 2 * m0 - m1
    c3 = m0 + m1 - 2 * delta
    value = y0 + s * (m0 + s * (c2 + s * c3))
    return value, (m0 + s * (2 * c2 + s * (3 * c3))) / h


def log_partition_and_slope(alpha: Tensor) -> tuple[Tensor, Tensor]:
    """log Z(alpha) and d log Z / d alpha in float64, for finite alpha >= 0, without autograd
    (the caller checks alpha); the same spline as `log_partition`."""
    a = alpha.detach().to(torch.float64)
    value, d_du = _spline(a / (1 + a))
    return value, d_du / (1 + a) ** 2  # du / dalpha = 1 / (1 + alpha)^2


def log_partition(alpha: Tensor | float) -> Tensor:
    """log Z(alpha) for alpha in [0, inf], differentiable in alpha; |error| < 1e-7 (float64).

    Z(alpha) = int exp(-rho(x, alpha, 1)) dx (Barron 2019, Eq. 17); log Z(0) = log(pi sqrt 2),
    log Z(2) = log sqrt(2 pi), log Z(inf) = 0.70526025442. Raises `ConfigError` for alpha < 0.
    """
    alpha = torch.as_tensor(alpha)
    if not alpha.is_floating_point():
        alpha = alpha.to(torch.get_default_dtype())
    _check_alpha(alpha, "log_partition")
    a64 = alpha.to(torch.float64)
    is_inf = torch.isinf(a64)
    finite_a = torch.where(is_inf, 0.0, a64)  # no inf/inf, and no NaN gradient at alpha = inf
    u = torch.where(is_inf, 1.0, finite_a / (1 + finite_a))
    value, _ = _spline(u)
    return value.to(alpha.dtype)


def nll(x: Tensor, alpha: Tensor | float, scale: Tensor | float, reduction: str = "none") -> Tensor:
    """-log p(x | 0, alpha, c) = rho(x, alpha, c) + log c + log Z(alpha), alpha >= 0.

    Elementwise by default (``reduction='none'``); 'mean' and 'sum' reduce like ``torch.nn``.
    At alpha = 0 this is Cauchy(0, c sqrt 2)'s NLL, at alpha = 2 Normal(0, c)'s.
    """
    from reprlab.losses.named import reduce

    x = torch.as_tensor(x)
    dtype = x.dtype if x.is_floating_point() else torch.get_default_dtype()
    alpha = torch.as_tensor(alpha, dtype=dtype, device=x.device)
    scale = torch.as_tensor(scale, dtype=dtype, device=x.device)
    _check_alpha(alpha, "nll")
    values = general_loss(x, alpha, scale) + torch.log(scale) + log_partition(alpha)
    return reduce(values, reduction)


def sample(
    alpha: Tensor | float,
    scale: Tensor | float,
    shape: tuple[int, ...] | torch.Size = (),
    generator: torch.Generator | None = None,
) -> Tensor:
    """Exact samples from p(x | 0, alpha, c) by rejection from Cauchy(0, c sqrt 2).

    Barron 2019, appendix: rho(x, alpha, 1) >= rho(x, 0, 1) for alpha >= 0, so a Cauchy
    proposal x is accepted with probability exp(rho(x, 0, 1) - rho(x, alpha, 1)); the
    acceptance rate is Z(alpha) / Z(0) >= 0.45. ``alpha`` and ``scale`` broadcast to ``shape``
    (``shape`` defaults to their broadcast shape). Reproducible given ``generator``.
    """
    alpha_t = torch.as_tensor(alpha)
    scale_t = torch.as_tensor(scale)
    floating = [t.dtype for t in (alpha_t, scale_t) if t.is_floating_point()]
    dtype = floating[0] if floating else torch.get_default_dtype()
    device = generator.device if generator is not None else alpha_t.device
    alpha_t = alpha_t.to(dtype=torch.float64, device=device)
    scale_t = scale_t.to(dtype=torch.float64, device=device)
    _check_alpha(alpha_t, "sample")
    if not bool((scale_t > 0).all()):
        raise ConfigError("sample: scale must be positive")
    shape = torch.Size(shape) if shape else torch.broadcast_shapes(alpha_t.shape, scale_t.shape)
    shape = torch.broadcast_shapes(shape, alpha_t.shape, scale_t.shape)
    alpha_full = alpha_t.expand(shape).reshape(-1)
    out = torch.empty(alpha_full.shape, dtype=torch.float64, device=device)
    pending = torch.arange(out.numel(), device=device)
    while pending.numel():
        n = pending.numel()
        uniform = torch.rand(2, n, dtype=torch.float64, device=device, generator=generator)
        x = math.sqrt(2) * torch.tan(math.pi * (uniform[0] - 0.5))
        a = alpha_full[pending]
        log_accept = general_loss(x, 0.0, 1.0) - general_loss(x, a, 1.0)
        accepted = torch.log(uniform[1]) < log_accept
        out[pending[accepted]] = x[accepted]
        pending = pending[~accepted]
    return (out.reshape(shape) * scale_t).to(dtype)
