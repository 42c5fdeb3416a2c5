"""Building blocks: activations by name, train-only Gaussian noise, MLP and conv stages."""

import itertools

import torch
from torch import Tensor, nn

from reprlab.registry import lookup

ACTIVATIONS: dict[str, type[nn.Module]] = {
    "relu": nn.ReLU,
    "linear": nn.Identity,
    "leaky_relu": nn.LeakyReLU,
    "elu": nn.ELU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
}


def activation(name: str) -> nn.Module:
    return lookup(ACTIVATIONS, name, "activation")()


class GaussianNoise(nn.Module):
    """Adds N(0, sigma^2) noise in training mode only; the identity in eval mode (seed 001)."""

    def __init__(self, sigma: float) -> None:
        super().__init__()
        self.sigma = float(sigma)

    def forward(self, x: Tensor) -> Tensor:
        if self.training and self.sigma > 0:
            return x + self.sigma * torch.randn_like(x)
        return x

    def extra_repr(self) -> str:
        return f"sigma={self.sigma}"


def mlp(
    widths: list[int],
    act: str,
    *,
    last_activation: bool = False,
    noise: float = 0.0,
    batch_norm: bool = False,
) -> nn.Sequential:
    """``Linear`` layers through ``widths`` with ``act`` (and optional BatchNorm and
    train-only noise) after each but the last (unless ``last_activation``)."""
    layers: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        layers.append(nn.Linear(a, b))
        if i < len(widths) - 2 or last_activation:
            if batch_norm:
                layers.append(nn.BatchNorm1d(b))
            layers.append(activation(act))
            if noise > 0:
                layers.append(GaussianNoise(noise))
    return nn.Sequential(*layers)


def conv_down(c_in: int, c_out: int, act: str, batch_norm: bool, noise: float) -> nn.Sequential:
    """3x3 convolution with stride 2 (spatial size n -> ceil(n / 2)), then norm, act, noise."""
    layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1)]
    layers += [nn.BatchNorm2d(c_out)] if batch_norm else []
    layers.append(activation(act))
    layers += [GaussianNoise(noise)] if noise > 0 else []
    return nn.Sequential(*layers)


def conv_up(
    c_in: int, c_out: int, size_out: tuple[int, int], size_in: tuple[int, int]
) -> nn.ConvTranspose2d:
    """3x3 transposed convolution with stride 2 that inverts ``conv_down`` exactly:
    output padding picks ``size_out`` (2n - 1 or 2n) from ``size_in`` = n."""
    pad = tuple(o - (2 * i - 1) for o, i in zip(size_out, size_in))
    if any(p not in (0, 1) for p in pad):
        raise ValueError(f"cannot upsample {size_in} to {size_out} with stride 2")
    return nn.ConvTranspose2d(c_in, c_out, 3, stride=2, padding=1, output_padding=pad)
