"""Adaptive losses: negative log-likelihoods whose shape and scale are learned per dimension.

- `AdaptiveLoss`: Barron's general distribution, NLL = rho(x, alpha, c) + log c + log Z(alpha)
  with alpha = lo + (hi - lo) sigmoid(latent) and c = c_min + (c_0 - c_min) softplus(latent)
  / log 2 (Barron, CVPR 2019, Sec. 3, "adaptive" loss; the paper's Eq. for alpha^(i), c^(i)).
- `StudentTLoss`: Student's t NLL with learnable log degrees of freedom and scale (the
  paper's t-distribution baseline).
- `fit_adaptive`: the maximum-likelihood alpha and scale of 1-D data (``reprlab demo``).

Both are called like ``torch.nn`` losses, ``loss(input, target)`` (the residual is
``input - target``), or ``loss(residual)``; the residual's trailing dimensions equal ``num_dims``
(an int or a shape), and ``reduction='mean'|'sum'|'none'`` reduces like ``torch.nn``. The result
has the input's dtype; it is computed in float32 or wider (half-precision inputs in float32).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reprlab.errors import ConfigError
from reprlab.losses.distribution import log_partition, log_partition_and_slope
from reprlab.losses.general import _GeneralLoss, column_elementwise, column_total
from reprlab.losses.named import check_reduction

__all__ = ["AdaptiveLoss", "StudentTLoss", "fit_adaptive"]

_LOG2 = math.log(2.0)


def _shape(num_dims: int | Sequence[int]) -> tuple[int, ...]:
    shape = (int(num_dims),) if isinstance(num_dims, int) else tuple(int(d) for d in num_dims)
    if not shape or any(d <= 0 for d in shape):
        raise ConfigError(f"num_dims must be a positive int or shape, got {num_dims!r}")
    return shape


def _check_input(x: Tensor, shape: tuple[int, ...], owner: str) -> None:
    if tuple(x.shape[x.dim() - len(shape) :]) != shape or x.dim() < len(shape):
        raise ConfigError(
            f"{owner}: input of shape {tuple(x.shape)} does not end in num_dims {shape}; "
            "pass inputs whose trailing dimensions equal num_dims"
        )


def _residual(input: Tensor, target: Tensor | None) -> Tensor:
    """``input - target`` like ``torch.nn`` losses, or ``input`` itself (a residual)."""
    if target is None:
        return input
    if input.shape != target.shape:
        raise ConfigError(
            f"input of shape {tuple(input.shape)} and target of shape {tuple(target.shape)} "
            "differ; pass tensors of the same shape"
        )
    return input - target


def _computing_dtype(x: Tensor, parameter: Tensor) -> torch.dtype:
    """The dtype a loss is computed in: the wider of the input's and the parameters', and at
    least float32 (float16 / bfloat16 inputs are computed in float32). Autograd's casts give
    each gradient its tensor's own dtype."""
    dtype = torch.promote_types(x.dtype, parameter.dtype)
    return torch.promote_types(dtype, torch.float32)


def _scaled_softplus_param(
    shape, lo: float, init: float, name: str, dtype, device
) -> tuple[nn.Parameter | None, Tensor]:
    if not (math.isfinite(lo) and math.isfinite(init)) or lo <= 0 or init < lo:
        raise ConfigError(f"{name}: need 0 < {name}_min <= {name}_init, got {lo} and {init}")
    if init == lo:
        return None, torch.full(shape, lo, dtype=dtype, device=device)
    return nn.Parameter(torch.zeros(shape, dtype=dtype, device=device)), torch.tensor(0.0)


def _reduce_nll(rho: Tensor, per_dim: Tensor, reduction: str) -> Tensor:
    """Reduce rho + per_dim (per_dim broadcast over rho's leading dimensions) cheaply."""
    if reduction == "none":
        return rho + per_dim
    total = rho.sum() if reduction == "sum" else rho.mean()
    repeats = rho.numel() // per_dim.numel()
    constant = per_dim.sum() * repeats if reduction == "sum" else per_dim.mean()
    return total + constant


class _PerDimNLL(torch.autograd.Function):
    """log c + log Z(alpha) for finite alpha >= 0 and c > 0, with closed-form gradients."""

    @staticmethod
    def forward(ctx, alpha: Tensor, scale: Tensor) -> Tensor:
        log_z, slope = log_partition_and_slope(alpha)
        ctx.save_for_backward(scale, slope.to(alpha.dtype))
        return torch.log(scale).add_(log_z.to(alpha.dtype))

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, g: Tensor):
        scale, slope = ctx.saved_tensors
        need_a, need_c = ctx.needs_input_grad
        return (g * slope if need_a else None), (g / scale if need_c else None)


def _per_dim_nll(alpha: Tensor, scale: Tensor) -> Tensor:
    """log c + log Z(alpha): the closed-form Function for finite alpha >= 0, else autograd."""
    a = alpha.detach()
    if bool((torch.isfinite(a) & (a >= 0)).all()) and alpha.shape == scale.shape:
        return _PerDimNLL.apply(alpha, scale)
    return torch.log(scale) + log_partition(alpha)  # raises the usual error for alpha < 0


class AdaptiveLoss(nn.Module):
    """NLL of Barron's general distribution with one learnable alpha and scale per dimension.

    ``forward(x)`` returns rho(x, alpha, c) + log c + log Z(alpha) (Barron, CVPR 2019, Sec. 3),
    reduced by ``reduction``. alpha = lo + (hi - lo) sigmoid(latent_alpha), starting at
    ``alpha_init`` (default the middle of ``alpha_range``); equal bounds fix alpha. The scale is
    scale_min + (scale_init - scale_min) softplus(latent_scale) / log 2, starting at
    ``scale_init``; ``scale_min == scale_init`` fixes it. alpha_range must lie in [0, inf).

    With reduction 'mean' or 'sum' the whole NLL is one autograd Function over per-dimension
    sums (`reprlab.losses.general.column_total`), several times cheaper than the elementwise
    path that reduction 'none' takes; both give the same values and gradients.
    """

    def __init__(
        self,
        num_dims: int | Sequence[int],
        alpha_range: tuple[float, float] = (0.001, 1.999),
        scale_min: float = 1e-5,
        alpha_init: float | None = None,
        scale_init: float = 1.0,
        *,
        reduction: str = "mean",
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.shape = _shape(num_dims)
        self.reduction = check_reduction(reduction)
        dtype = dtype or torch.get_default_dtype()
        lo, hi = (float(v) for v in alpha_range)
        if not (0 <= lo <= hi < math.inf):
            raise ConfigError(f"alpha_range must satisfy 0 <= lo <= hi < inf, got {alpha_range}")
        self.alpha_lo, self.alpha_hi = lo, hi
        if alpha_init is None:
            alpha_init = 0.5 * (lo + hi)
        alpha_init = float(alpha_init)
        if lo == hi:
            if alpha_init != lo:
                raise ConfigError(f"alpha is fixed at {lo}; alpha_init {alpha_init} differs")
            self.latent_alpha = None
            self.register_buffer(
                "fixed_alpha", torch.full(self.shape, lo, dtype=dtype, device=device)
            )
        else:
            if not lo < alpha_init < hi:
                raise ConfigError(
                    f"alpha_init must lie strictly inside alpha_range {alpha_range}, "
                    f"got {alpha_init}"
                )
            t = (alpha_init - lo) / (hi - lo)
            latent = math.log(t) - math.log1p(-t)
            self.latent_alpha = nn.Parameter(
                torch.full(self.shape, latent, dtype=dtype, device=device)
            )
            self.fixed_alpha = None
        self.scale_min, self.scale_init = float(scale_min), float(scale_init)
        latent_scale, fixed = _scaled_softplus_param(
            self.shape, self.scale_min, self.scale_init, "scale", dtype, device
        )
        self.latent_scale = latent_scale
        self.register_buffer("fixed_scale", fixed if latent_scale is None else None)

    def alpha(self) -> Tensor:
        """The current alpha, shape ``num_dims``."""
        if self.latent_alpha is None:
            return self.fixed_alpha
        return self.alpha_lo + (self.alpha_hi - self.alpha_lo) * torch.sigmoid(self.latent_alpha)

    def scale(self) -> Tensor:
        """The current scale, shape ``num_dims``."""
        if self.latent_scale is None:
            return self.fixed_scale
        span = (self.scale_init - self.scale_min) / _LOG2
        return self.scale_min + span * F.softplus(self.latent_scale)

    def forward(self, input: Tensor, target: Tensor | None = None) -> Tensor:
        """The NLL of the residual ``input - target`` (of ``input`` alone without a target),
        in ``input``'s dtype; it is computed in float32 or wider (see `_computing_dtype`)."""
        x = _residual(input, target)
        _check_input(x, self.shape, type(self).__name__)
        alpha, scale = self.alpha(), self.scale()
        dtype = _computing_dtype(x, alpha)
        out = self._nll(x.to(dtype), alpha.to(dtype), scale.to(dtype))
        return out.to(x.dtype)

    def _nll(self, x: Tensor, alpha: Tensor, scale: Tensor) -> Tensor:
        a = alpha.detach()
        if not bool((torch.isfinite(a) & (a >= 0)).all()):
            rho = _GeneralLoss.apply(x, alpha, scale)
            return _reduce_nll(rho, _per_dim_nll(alpha, scale), self.reduction)
        d = alpha.numel()
        if self.reduction == "none":  # per-column parameters: the fused kernel where it runs
            rho = column_elementwise(x.reshape(-1, d), alpha.reshape(d), scale.reshape(d))
            return _reduce_nll(rho.reshape(x.shape), _per_dim_nll(alpha, scale), "none")
        # mean / sum: one Function for the whole reduced NLL (`general.column_total`): per-
        # dimension constants once, per-dimension sums over the batch, closed-form gradients
        log_z, slope = log_partition_and_slope(a.reshape(d))
        weight = 1.0 if self.reduction == "sum" else 1.0 / max(x.numel(), 1)
        total = column_total(
            x.reshape(-1, d),
            alpha.reshape(d),
            scale.reshape(d),
            weight,
            log_z.to(x.dtype),
            slope.to(x.dtype),
        )
        if self.reduction == "mean" and x.numel() == 0:
            return total * math.nan  # like torch's mean of nothing
        return total

    def extra_repr(self) -> str:
        return (
            f"num_dims={self.shape}, alpha_range=({self.alpha_lo}, {self.alpha_hi}), "
            f"scale_min={self.scale_min}, scale_init={self.scale_init}, "
            f"reduction={self.reduction!r}"
        )


class StudentTLoss(nn.Module):
    """NLL of Student's t with learnable degrees of freedom and scale per dimension.

    -log p(x) = log c + 0.5 log(pi nu) + lgamma(nu / 2) - lgamma((nu + 1) / 2)
                + (nu + 1) / 2 log1p((x / c)^2 / nu),
    with nu = exp(log_df) (``log_df`` starts at log(df_init)) and the scale parameterised as in
    `AdaptiveLoss` (Barron 2019, Sec. 3.1, the t-distribution baseline).
    """

    def __init__(
        self,
        num_dims: int | Sequence[int],
        scale_min: float = 1e-5,
        scale_init: float = 1.0,
        df_init: float = 1.0,
        *,
        reduction: str = "mean",
        dtype: torch.dtype | None = None,
        device: torch.device | str | None = None,
    ) -> None:
        super().__init__()
        self.shape = _shape(num_dims)
        self.reduction = check_reduction(reduction)
        dtype = dtype or torch.get_default_dtype()
        if not (df_init > 0 and math.isfinite(df_init)):
            raise ConfigError(f"df_init must be a positive finite number, got {df_init}")
        self.log_df = nn.Parameter(
            torch.full(self.shape, math.log(df_init), dtype=dtype, device=device)
        )
        self.scale_min, self.scale_init = float(scale_min), float(scale_init)
        latent_scale, fixed = _scaled_softplus_param(
            self.shape, self.scale_min, self.scale_init, "scale", dtype, device
        )
        self.latent_scale = latent_scale
        self.register_buffer("fixed_scale", fixed if latent_scale is None else None)

    def df(self) -> Tensor:
        """The current degrees of freedom nu, shape ``num_dims``."""
        return torch.exp(self.log_df)

    def scale(self) -> Tensor:
        """The current scale, shape ``num_dims``."""
        if self.latent_scale is None:
            return self.fixed_scale
        span = (self.scale_init - self.scale_min) / _LOG2
        return self.scale_min + span * F.softplus(self.latent_scale)

    def forward(self, input: Tensor, target: Tensor | None = None) -> Tensor:
        """The NLL of ``input - target`` (of ``input`` alone without a target), in ``input``'s
        dtype, computed in float32 or wider like `AdaptiveLoss`."""
        x = _residual(input, target)
        _check_input(x, self.shape, type(self).__name__)
        df = self.df()
        dtype = _computing_dtype(x, df)
        out = self._nll(x.to(dtype), df.to(dtype), self.scale().to(dtype))
        return out.to(x.dtype)

    def _nll(self, x: Tensor, df: Tensor, scale: Tensor) -> Tensor:
        z2 = torch.square(x / scale)
        rho = 0.5 * (df + 1) * torch.log1p(z2 / df)
        per_dim = (
            torch.log(scale)
            + 0.5 * torch.log(math.pi * df)
            + torch.lgamma(0.5 * df)
            - torch.lgamma(0.5 * (df + 1))
        )
        return _reduce_nll(rho, per_dim, self.reduction)

    def extra_repr(self) -> str:
        return (
            f"num_dims={self.shape}, scale_min={self.scale_min}, scale_init={self.scale_init}, "
            f"reduction={self.reduction!r}"
        )


def fit_adaptive(
    data: Tensor,
    steps: int,
    lr: float,
    alpha_range: tuple[float, float] = (0.001, 1.999),
    on_step: Callable[[], None] | None = None,
) -> AdaptiveLoss:
    """Maximum-likelihood fit of one alpha and one scale to 1-D ``data``: ``steps`` full-batch
    Adam steps on the mean NLL (Barron 2019, Sec. 3); ``on_step`` is called after each."""
    loss = AdaptiveLoss(1, alpha_range=alpha_range, dtype=data.dtype)
    optimizer = torch.optim.Adam(loss.parameters(), lr=lr)
    x = data.reshape(-1, 1)
    for _ in range(steps):
        optimizer.zero_grad()
        loss(x).backward()
        optimizer.step()
        if on_step is not None:
            on_step()
    return loss
