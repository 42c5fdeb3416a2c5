"""Codes, reconstructions and prior samples of a model, in batches, without gradients, on the
device of the model's weights (uint8 batches are copied there, then scaled)."""

import torch
from torch import Tensor


def _batches(split, batch_size: int, device):
    images = split.images if hasattr(split, "images") else split
    for start in range(0, len(images), batch_size):
        x = images[start : start + batch_size].to(device, non_blocking=True)
        yield x.float().div_(255.0) if x.dtype == torch.uint8 else x.float()


def model_device(model) -> torch.device:
    """The device of ``model``'s first parameter (the CPU for a model without any)."""
    parameter = next(model.parameters(), None)
    return parameter.device if parameter is not None else torch.device("cpu")


@torch.no_grad()
def embed(model, split, batch_size: int = 500, sample: bool = False, seed: int = 0) -> Tensor:
    """``model.embed`` of every image of ``split`` (a ``Split`` or uint8/float NCHW images) as
    a float32 ``[N, D]`` CPU tensor: the posterior mean by default, a posterior sample when
    ``sample`` (drawn with ``torch.manual_seed(seed)`` so it repeats). The model is put in eval
    mode."""
    model.eval()
    device = model_device(model)
    if sample:
        torch.manual_seed(seed)
    parts = [
        model.embed(x, sample=sample).float().cpu() for x in _batches(split, batch_size, device)
    ]
    return torch.cat(parts)


@torch.no_grad()
def reconstruct(model, split, batch_size: int = 500) -> Tensor:
    """``decode(encode(x).z)`` of every image of ``split`` (the posterior mean for a VAE in
    eval mode), float32 ``[N, C, H, W]`` on the CPU, not clamped."""
    model.eval()
    device = model_device(model)
    return torch.cat(
        [model.decode(model.encode(x).z).float().cpu() for x in _batches(split, batch_size, device)]
    )


@torch.no_grad()
def decode_prior(model, n: int, seed: int = 0, batch_size: int = 500) -> Tensor:
    """``decode(z)`` of ``n`` codes ``z = model.sample_prior(n, generator)`` drawn with a
    generator seeded ``seed`` (so they repeat), clamped to [0, 1]: float32 ``[n, C, H, W]`` on
    the CPU. The model is put in eval mode."""
    model.eval()
    device = model_device(model)
    z = model.sample_prior(n, torch.Generator().manual_seed(seed))
    parts = [
        model.decode(z[s : s + batch_size].to(device)).float().cpu()
        for s in range(0, n, batch_size)
    ]
    return torch.cat(parts).clamp(0, 1)
