"""Named robust losses: special cases of rho (Barron, CVPR 2019, Sec. 2) and their torch kin.

Every loss takes ``(input, target=None)``; without a target, ``input`` is the residual x. Each
has a functional form and a ``torch.nn.Module`` form with ``reduction='mean'|'sum'|'none'``,
like ``torch.nn``. With z = x / scale, rho = `reprlab.losses.general_loss`:

====================  ==================================  ===================================
name                  value                               relation to rho
====================  ==================================  ===================================
``l2``, ``mse``       x^2 (exactly ``F.mse_loss``)        2 rho(x, 2, 1)
``l1``                |x| (exactly ``F.l1_loss``)         lim_{c -> 0} c rho(x, 1, c)
``charbonnier``,      sqrt(z^2 + 1) - 1 (pseudo-Huber)    rho(x, 1, c)
``smooth-l1``
``cauchy``            log(z^2 / 2 + 1)                    rho(x, 0, c)
``geman-mcclure``     2 z^2 / (z^2 + 4)                   rho(x, -2, c)
``welsch``            1 - exp(-z^2 / 2)                   rho(x, -inf, c)
``huber``             ``F.huber_loss(delta)``             not a case of rho (its C1 cousin is
``torch-smooth-l1``   ``F.smooth_l1_loss(beta)``          charbonnier); huber = beta torch-
                                                          smooth-l1
``general``           rho(x, alpha, c)                    itself
====================  ==================================  ===================================

``smooth-l1`` is the "smooth L1 (defined in [Barron 2019])" of seed 000: Barron's alpha = 1
case, the Charbonnier / pseudo-Huber loss, which is quadratic near 0 and linear in |x| far from
it. torch's ``SmoothL1Loss`` (quadratic below ``beta``, then linear; a rescaled Huber loss) is a
different function and is registered as ``torch-smooth-l1``.

Registry names are hyphenated; `get_loss` and membership tests in `LOSSES` also accept the
underscore spelling (``geman_mcclure``), which is read as the hyphenated one.
"""

from __future__ import annotations

import inspect
import math
import warnings
from collections.abc import Iterable

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reprlab.errors import ConfigError
from reprlab.losses.general import general_loss
from reprlab.registry import lookup

__all__ = [
    "LOSSES",
    "CauchyLoss",
    "CharbonnierLoss",
    "GemanMcClureLoss",
    "GeneralLoss",
    "HuberLoss",
    "L1Loss",
    "L2Loss",
    "SmoothL1Loss",
    "TorchSmoothL1Loss",
    "WelschLoss",
    "cauchy_loss",
    "charbonnier_loss",
    "geman_mcclure_loss",
    "general_robust_loss",
    "get_loss",
    "huber_loss",
    "l1_loss",
    "l2_loss",
    "reduce",
    "smooth_l1_loss",
    "torch_smooth_l1_loss",
    "welsch_loss",
]

REDUCTIONS = ("mean", "sum", "none")


def check_reduction(reduction: str) -> str:
    if reduction not in REDUCTIONS:
        raise ConfigError(f"unknown reduction {reduction!r}; use one of: {', '.join(REDUCTIONS)}")
    return reduction


def reduce(values: Tensor, reduction: str) -> Tensor:
    """Apply ``reduction`` ('mean' | 'sum' | 'none') like ``torch.nn`` losses."""
    check_reduction(reduction)
    if reduction == "mean":
        return values.mean()
    if reduction == "sum":
        return values.sum()
    return values


def _residual(input: Tensor, target: Tensor | None) -> Tensor:
    return input if target is None else input - target


def _robust(alpha: float, input, target, scale, reduction) -> Tensor:
    return reduce(general_loss(_residual(input, target), alpha, scale), reduction)


def l2_loss(input: Tensor, target: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """x^2, identical to ``F.mse_loss``; equals 2 rho(x, alpha=2, c=1)."""
    check_reduction(reduction)
    if target is None:
        target = torch.zeros_like(input)
    return F.mse_loss(input, target, reduction=reduction)


def l1_loss(input: Tensor, target: Tensor | None = None, reduction: str = "mean") -> Tensor:
    """|x|, identical to ``F.l1_loss``; the limit c rho(x, 1, c) as c -> 0."""
    check_reduction(reduction)
    if target is None:
        target = torch.zeros_like(input)
    return F.l1_loss(input, target, reduction=reduction)


def charbonnier_loss(input, target=None, scale=1.0, reduction="mean") -> Tensor:
    """Charbonnier / pseudo-Huber sqrt((x/c)^2 + 1) - 1 = rho(x, 1, c) (Barron 2019, Sec. 2)."""
    return _robust(1.0, input, target, scale, reduction)


def cauchy_loss(input, target=None, scale=1.0, reduction="mean") -> Tensor:
    """Cauchy / Lorentzian log(0.5 (x/c)^2 + 1) = rho(x, 0, c) (Barron 2019, Sec. 2)."""
    return _robust(0.0, input, target, scale, reduction)


def geman_mcclure_loss(input, target=None, scale=1.0, reduction="mean") -> Tensor:
    """Geman-McClure 2 (x/c)^2 / ((x/c)^2 + 4) = rho(x, -2, c) (Barron 2019, Sec. 2)."""
    return _robust(-2.0, input, target, scale, reduction)


def welsch_loss(input, target=None, scale=1.0, reduction="mean") -> Tensor:
    """Welsch / Leclerc 1 - exp(-0.5 (x/c)^2) = rho(x, -inf, c) (Barron 2019, Sec. 2)."""
    return _robust(-math.inf, input, target, scale, reduction)


def general_robust_loss(input, target=None, alpha=1.0, scale=1.0, reduction="mean") -> Tensor:
    """rho(x, alpha, c) with fixed (or caller-owned) alpha and scale, reduced."""
    return _robust(alpha, input, target, scale, reduction)


def huber_loss(input, target=None, delta=1.0, reduction="mean") -> Tensor:
    """Huber: 0.5 x^2 for |x| < delta, else delta (|x| - 0.5 delta); ``F.huber_loss``."""
    check_reduction(reduction)
    if target is None:
        target = torch.zeros_like(input)
    return F.huber_loss(input, target, reduction=reduction, delta=delta)


def torch_smooth_l1_loss(input, target=None, beta=1.0, reduction="mean") -> Tensor:
    """torch's smooth L1: 0.5 x^2 / beta for |x| < beta, else |x| - 0.5 beta
    (``F.smooth_l1_loss``; registry name ``torch-smooth-l1``). Not seed 000's smooth L1, which
    is Barron's alpha = 1 case (`charbonnier_loss`, registry name ``smooth-l1``)."""
    check_reduction(reduction)
    if target is None:
        target = torch.zeros_like(input)
    return F.smooth_l1_loss(input, target, reduction=reduction, beta=beta)


_SMOOTH_L1_RENAMED = (
    "{old} is deprecated: it is torch's smooth L1 and is now {new}; the registry name "
    "'smooth-l1' is Barron's alpha = 1 loss (charbonnier_loss / CharbonnierLoss)"
)


def smooth_l1_loss(input, target=None, beta=1.0, reduction="mean") -> Tensor:
    """Deprecated name of `torch_smooth_l1_loss`."""
    warnings.warn(
        _SMOOTH_L1_RENAMED.format(old="smooth_l1_loss", new="torch_smooth_l1_loss"),
        FutureWarning,
        stacklevel=2,
    )
    return torch_smooth_l1_loss(input, target, beta, reduction)


class _NamedLoss(nn.Module):
    def __init__(self, reduction: str = "mean") -> None:
        super().__init__()
        self.reduction = check_reduction(reduction)

    def extra_repr(self) -> str:
        return f"reduction={self.reduction!r}"


class L2Loss(_NamedLoss):
    """x^2 (``nn.MSELoss``); 2 rho(x, 2, 1)."""

    def forward(self, input: Tensor, target: Tensor | None = None) -> Tensor:
        return l2_loss(input, target, self.reduction)


class L1Loss(_NamedLoss):
    """|x| (``nn.L1Loss``)."""

    def forward(self, input: Tensor, target: Tensor | None = None) -> Tensor:
        return l1_loss(input, target, self.reduction)


class _ScaledLoss(_NamedLoss):
    """A fixed-alpha case of rho with scale c (a float or a tensor that broadcasts with x)."""

    alpha: float = 1.0

    def __init__(self, scale: float | Tensor = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        if not bool((torch.as_tensor(scale) > 0).all()):
            raise ConfigError(f"{type(self).__name__}: scale must be positive, got {scale}")
        self.register_buffer("scale", torch.as_tensor(scale, dtype=torch.get_default_dtype()))

    def forward(self, input: Tensor, target: Tensor | None = None) -> Tensor:
        return _robust(self.alpha, input, target, self.scale.to(input.dtype), self.reduction)

    def extra_repr(self) -> str:
        scale = self.scale.item() if self.scale.numel() == 1 else tuple(self.scale.shape)
        return f"scale={scale}, reduction={self.reduction!r}"


class CharbonnierLoss(_ScaledLoss):
    """rho(x, 1, c) = sqrt((x/c)^2 + 1) - 1 (Charbonnier / pseudo-Huber; Barron 2019, Sec. 2).

    Registered as ``charbonnier`` and as ``smooth-l1``: it is the "smooth L1 (defined in
    [Barron 2019])" of seed 000, quadratic near 0 and linear in |x| far from it. torch's
    ``SmoothL1Loss`` is another function (`TorchSmoothL1Loss`, ``torch-smooth-l1``).
    """

    alpha = 1.0


class CauchyLoss(_ScaledLoss):
    """rho(x, 0, c) = log(0.5 (x/c)^2 + 1)."""

    alpha = 0.0


class GemanMcClureLoss(_ScaledLoss):
    """rho(x, -2, c) = 2 (x/c)^2 / ((x/c)^2 + 4)."""

    alpha = -2.0


class WelschLoss(_ScaledLoss):
    """rho(x, -inf, c) = 1 - exp(-0.5 (x/c)^2)."""

    alpha = -math.inf


class GeneralLoss(_ScaledLoss):
    """rho(x, alpha, c) with a fixed alpha (a float, +-inf allowed) and scale."""

    def __init__(self, alpha: float = 1.0, scale: float | Tensor = 1.0, reduction="mean") -> None:
        super().__init__(scale, reduction)
        if math.isnan(alpha):
            raise ConfigError("GeneralLoss: alpha is NaN; use a number or +-inf")
        self.alpha = float(alpha)

    def extra_repr(self) -> str:
        return f"alpha={self.alpha}, " + super().extra_repr()


class HuberLoss(_NamedLoss):
    """``nn.HuberLoss(delta)``."""

    def __init__(self, delta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.delta = float(delta)

    def forward(self, input: Tensor, target: Tensor | None = None) -> Tensor:
        return huber_loss(input, target, self.delta, self.reduction)


class TorchSmoothL1Loss(_NamedLoss):
    """``nn.SmoothL1Loss(beta)`` (registry name ``torch-smooth-l1``); not seed 000's smooth L1,
    which is `CharbonnierLoss` (``smooth-l1``)."""

    def __init__(self, beta: float = 1.0, reduction: str = "mean") -> None:
        super().__init__(reduction)
        self.beta = float(beta)

    def forward(self, input: Tensor, target: Tensor | None = None) -> Tensor:
        return torch_smooth_l1_loss(input, target, self.beta, self.reduction)


class SmoothL1Loss(TorchSmoothL1Loss):
    """Deprecated name of `TorchSmoothL1Loss`."""

    def __init__(self, beta: float = 1.0, reduction: str = "mean") -> None:
        warnings.warn(
            _SMOOTH_L1_RENAMED.format(old="SmoothL1Loss", new="TorchSmoothL1Loss"),
            FutureWarning,
            stacklevel=2,
        )
        super().__init__(beta, reduction)


def canonical_name(name: str) -> str:
    """The registry spelling of a loss name: underscores read as hyphens."""
    return name.replace("_", "-") if isinstance(name, str) else name


class LossRegistry(dict):
    """A dict of hyphenated loss names whose lookups also accept the underscore spelling.

    ``registry["geman_mcclure"]``, ``"geman_mcclure" in registry`` and ``registry.get`` read
    the name as ``geman-mcclure``; iteration and listings show only the hyphenated names.
    """

    def __init__(self, items: Iterable[tuple[str, type[nn.Module]]]) -> None:
        items = list(items)
        for name, _ in items:
            if name != canonical_name(name):
                raise ValueError(f"loss names are hyphenated; got {name!r}")
        super().__init__(items)

    def __getitem__(self, name: str):
        return super().__getitem__(canonical_name(name))

    def __contains__(self, name: object) -> bool:
        return super().__contains__(canonical_name(name))

    def get(self, name: str, default=None):
        return super().get(canonical_name(name), default)


LOSSES: dict[str, type[nn.Module]] = LossRegistry(
    [
        ("l2", L2Loss),
        ("mse", L2Loss),
        ("l1", L1Loss),
        ("charbonnier", CharbonnierLoss),
        ("smooth-l1", CharbonnierLoss),
        ("cauchy", CauchyLoss),
        ("geman-mcclure", GemanMcClureLoss),
        ("welsch", WelschLoss),
        ("huber", HuberLoss),
        ("torch-smooth-l1", TorchSmoothL1Loss),
        ("general", GeneralLoss),
    ]
)


def get_loss(name: str, **kwargs) -> nn.Module:
    """The loss module registered as ``name`` (see ``LOSSES``; ``_`` reads as ``-``), built
    with ``kwargs``.

    An unknown name raises `UnknownNameError` listing the valid ones; an unknown keyword
    raises `ConfigError` listing the accepted ones.
    """
    cls = lookup(LOSSES, name, "loss")
    accepted = [p for p in inspect.signature(cls.__init__).parameters if p != "self"]
    unknown = sorted(set(kwargs) - set(accepted))
    if unknown:
        raise ConfigError(
            f"loss {name!r} does not take {', '.join(unknown)}; it accepts: "
            f"{', '.join(accepted) or 'no options'}"
        )
    return cls(**kwargs)
