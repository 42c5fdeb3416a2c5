"""Reconstruction objectives: each maps a decoder output and its target (both [N, C, H, W], in
the model's data space) to one loss per image, [N], summed over the image's pixels.

- A ``reprlab.losses`` loss by name (``mse``, ``l1``, ``cauchy``, ``general``, ...), applied per
  pixel, or with ``robust_over='image'`` to each image's residual norm ||x - x_hat||_2, i.e. the
  robust function of ||r||^2 / c^2 (seed 000's per-image variant).
- ``adaptive``: ``reprlab.losses.AdaptiveLoss`` with one alpha and scale per pixel, a negative
  log-likelihood in nats (Barron, "A General and Adaptive Robust Loss Function", CVPR 2019,
  section 3.1).
- ``adaptive-image``: ``reprlab.losses.AdaptiveImageLoss`` on pixels, DCT or wavelets, RGB or
  YUV (Barron 2019, section 4, VAE experiment); ``color_space: auto`` is YUV on colour images
  and the grey channel as it is on grey ones.
- Decoder likelihoods ``nll-normal``, ``nll-cauchy``, ``nll-student-t``, ``nll-general``:
  normalised densities with a learned scale per coefficient (and the general distribution's
  alpha), so a VAE's objective is a true ELBO in nats (Barron 2019, table 2; seed 002).

Objectives that are normalised likelihoods have ``likelihood = True``. Their parameters are
submodules, so they train with the model and live in its checkpoints.
"""

from collections.abc import Callable
from typing import Any

import torch
from torch import Tensor, nn

from reprlab.errors import ConfigError
from reprlab.losses import LOSSES, AdaptiveImageLoss, AdaptiveLoss, get_loss


class ReconstructionObjective(nn.Module):
    """Wraps ``loss`` (per-element loss of ``(input, target)``) into a per-image sum."""

    def __init__(
        self,
        loss: nn.Module,
        likelihood: bool,
        per_image: bool = False,
        mean_loss: nn.Module | None = None,
    ) -> None:
        super().__init__()
        self.loss, self.likelihood, self.per_image = loss, likelihood, per_image
        self.mean_loss = mean_loss  # the same loss with reduction='mean' (one fused op)

    def pixel_mean(self, prediction: Tensor, target: Tensor) -> Tensor:
        """The batch mean of ``forward`` divided by the pixels per image."""
        if self.mean_loss is not None and not self.per_image:
            return self.mean_loss(prediction, target)
        return self(prediction, target).mean() / prediction[0].numel()

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        if self.per_image:
            norm = (target - prediction).flatten(1).norm(dim=1)
            return self.loss(norm, torch.zeros_like(norm))
        return self.loss(prediction, target).flatten(1).sum(1)


class _ResidualLoss(nn.Module):
    """Adapts a loss of the residual (``AdaptiveLoss``) to the ``(input, target)`` form."""

    def __init__(self, loss: nn.Module) -> None:
        super().__init__()
        self.loss = loss

    def forward(self, prediction: Tensor, target: Tensor) -> Tensor:
        return self.loss(target - prediction)


def _distribution_params(params: dict[str, Any]) -> dict[str, Any]:
    """``alpha`` and ``scale`` as shorthands: a fixed shape, a fixed scale."""
    params = dict(params)
    if "alpha" in params:
        alpha = float(params.pop("alpha"))
        params["alpha_range"] = (alpha, alpha)
    if "scale" in params:
        scale = float(params.pop("scale"))
        params["scale_min"] = params["scale_init"] = scale
    if "alpha_range" in params:
        params["alpha_range"] = tuple(params["alpha_range"])
    return params


def colour_space_for(shape: tuple[int, int, int], color_space: str) -> str:
    """``color_space='auto'``: YUV for 3-channel images (seed 002's DCT + YUV and wavelets +
    YUV), RGB, i.e. the channels as given, otherwise (YUV does not apply to grey images)."""
    if color_space != "auto":
        return color_space
    return "yuv" if shape[0] == 3 else "rgb"


def _image_likelihood(**fixed: Any) -> Callable[[tuple[int, int, int], dict], nn.Module]:
    def make(shape: tuple[int, int, int], params: dict) -> nn.Module:
        params = dict(params)
        if "color_space" in params:
            params["color_space"] = colour_space_for(shape, params["color_space"])
        loss = AdaptiveImageLoss(
            *shape, **{**_distribution_params(params), **fixed}, reduction="none"
        )
        # AdaptiveImageLoss builds its inner AdaptiveLoss/StudentTLoss with the default
        # reduction='mean', which breaks its own reduction='none'; per-element it must be.
        if getattr(loss.loss, "reduction", "none") != "none":
            loss.loss.reduction = "none"
        return loss

    return make


def _adaptive(shape: tuple[int, int, int], params: dict) -> nn.Module:
    return _ResidualLoss(AdaptiveLoss(shape, **_distribution_params(params), reduction="none"))


#: name -> factory(image_shape, params) of a per-element NLL module ``(input, target)``
LIKELIHOODS: dict[str, Callable[[tuple[int, int, int], dict], nn.Module]] = {
    "adaptive": _adaptive,
    "adaptive-image": _image_likelihood(),
    "nll-normal": _image_likelihood(alpha_range=(2.0, 2.0)),
    "nll-cauchy": _image_likelihood(alpha_range=(0.0, 0.0)),
    "nll-student-t": _image_likelihood(use_students_t=True),
    "nll-general": _image_likelihood(),
}


def objective_names() -> list[str]:
    """Every valid reconstruction objective name."""
    return sorted({*LIKELIHOODS, *LOSSES})


def build_objective(cfg, image_shape: tuple[int, int, int]) -> ReconstructionObjective:
    """The objective named ``cfg.loss`` with keyword arguments ``cfg.loss_params``."""
    name, params = cfg.loss, dict(cfg.loss_params)
    per_image = cfg.robust_over == "image"
    try:
        if name in LIKELIHOODS:
            if per_image:
                raise ConfigError(
                    f"loss {name!r} is a per-pixel likelihood; robust_over='image' applies only "
                    "to reprlab.losses losses such as 'cauchy'; use robust_over='pixel'"
                )
            return ReconstructionObjective(LIKELIHOODS[name](image_shape, params), True)
        if name not in LOSSES:
            valid = ", ".join(objective_names())
            raise ConfigError(f"unknown reconstruction loss {name!r}; valid: {valid}")
        return ReconstructionObjective(
            get_loss(name, reduction="none", **params),
            False,
            per_image,
            mean_loss=get_loss(name, reduction="mean", **params),
        )
    except TypeError as error:  # an unexpected keyword argument
        raise ConfigError(
            f"bad loss_params {params} for loss {name!r}: {error}; see the loss's docstring"
        ) from None
