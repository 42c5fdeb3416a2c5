"""A device named by the user, checked to exist on this machine before anything runs there."""

import torch

from reprlab.errors import ConfigError


def resolve_device(device: str | torch.device | None = None) -> torch.device:
    """``device`` as a ``torch.device``: None is ``cuda`` when a CUDA GPU is present, else
    ``cpu``. A name torch does not know, or a device this machine lacks (``cuda`` without a
    GPU, ``cuda:3`` with two), is a `ConfigError` saying which devices there are."""
    if device is None:
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError, ValueError):
        raise ConfigError(f"unknown device {device!r}; use 'cpu', 'cuda' or 'cuda:N'") from None
    if resolved.type == "cpu":
        return resolved
    backend = getattr(torch, resolved.type, None)
    count = backend.device_count() if hasattr(backend, "device_count") else 0
    if (resolved.index or 0) < count:
        return resolved
    gpus = torch.cuda.device_count()
    choices = "'cpu'" + (f" or 'cuda:0'..'cuda:{gpus - 1}'" if gpus else "")
    raise ConfigError(
        f"device {str(resolved)!r} is not available on this machine ({gpus} CUDA GPUs); "
        f"use {choices}"
    )
