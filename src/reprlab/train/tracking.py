"""Per-epoch summaries of a model's learned loss parameters: the shape alpha and the scale of
adaptive losses (Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, sec. 3).

Every outermost sub-module with an ``alpha()`` or ``scale()`` method (``AdaptiveLoss``,
``AdaptiveImageLoss``, ``StudentTLoss``) contributes ``alpha_mean``, ``alpha_min``,
``alpha_max``, ``scale_mean``, ``scale_min`` and ``scale_max`` over its dimensions; with
several such modules the keys are prefixed by the module's path (``decoder.loss/alpha_mean``).
"""

from __future__ import annotations

import torch
from torch import nn


def _learned(model: nn.Module) -> list[tuple[str, nn.Module]]:
    """The outermost sub-modules with ``alpha()`` or ``scale()`` methods, with their paths."""
    found: list[tuple[str, nn.Module]] = []
    for name, module in model.named_modules():
        if not (
            callable(getattr(module, "alpha", None)) or callable(getattr(module, "scale", None))
        ):
            continue
        if any(name.startswith(prefix + ".") or prefix == "" for prefix, _ in found):
            continue
        found.append((name, module))
    return found


@torch.no_grad()
def shape_summary(model: nn.Module) -> dict[str, float]:
    """``{alpha_mean, alpha_min, alpha_max, scale_mean, scale_min, scale_max}`` of the
    model's adaptive losses (empty when it has none)."""
    model = getattr(model, "module", model)  # a Fabric-wrapped model
    modules = _learned(model)
    out: dict[str, float] = {}
    for path, module in modules:
        prefix = "" if len(modules) == 1 else f"{path.removeprefix('_forward_module.')}/"
        for what in ("alpha", "scale"):
            method = getattr(module, what, None)
            if not callable(method):
                continue
            try:
                value = method().detach().float()
            except AttributeError:  # e.g. a Student's t loss has a scale but no alpha
                continue
            out[f"{prefix}{what}_mean"] = float(value.mean())
            out[f"{prefix}{what}_min"] = float(value.min())
            out[f"{prefix}{what}_max"] = float(value.max())
    return out
