"""Encoder/decoder pairs derived from a data set's image shape.

``mlp``: flatten, ``Linear`` layers through ``hidden`` to the latent, and the mirror image
back (seed 004: 784-128-64-12-2 and 2-12-64-128-784). ``conv``: 3x3 stride-2 convolutions, one
per entry of ``channels`` (each halves the spatial size, rounding up), then a linear head: a
1x1 convolution to a spatial latent when ``latent_dim`` is None, or a ``Linear`` layer to a
``latent_dim`` vector (seed 000: 128). The spatial latent holds ``latent_ratio`` times fewer
values than the image (seed 001: 64 maps of 4x4 for 64x64 images, 4x fewer), so its number of
maps follows the image size; when that number differs from the last stage's width, the
decoder starts with a 1x1 convolution back to it. The decoders end without an activation;
the model family applies the output activation.
"""

import itertools
import math
from dataclasses import dataclass

from torch import nn

from reprlab.errors import ConfigError
from reprlab.models.blocks import GaussianNoise, activation, conv_down, conv_up, mlp
from reprlab.registry import lookup

MLP_DEFAULT_LATENT = 2  # seed 004
CONV_DEFAULT_WIDTH = 64  # seed 001
CONV_TARGET_SIDE = 4  # seed 001: a 4x4 spatial latent


@dataclass
class Architecture:
    """``encoder``: images [N, C, H, W] -> [N, k * latent_shape[0], *latent_shape[1:]] (k is
    ``code_multiplier``, 2 for mean and log-variance); ``decoder``: [N, *latent_shape] ->
    [N, C, H, W] before the output activation."""

    encoder: nn.Module
    decoder: nn.Module
    latent_shape: tuple[int, ...]


def _mlp(cfg, image_shape, k: int, noise: float) -> Architecture:
    pixels = math.prod(image_shape)
    latent = cfg.latent_dim or MLP_DEFAULT_LATENT
    widths = [pixels, *cfg.hidden]
    encoder = nn.Sequential(
        nn.Flatten(),
        mlp([*widths, k * latent], cfg.activation, noise=noise, batch_norm=cfg.batch_norm),
    )
    decoder = nn.Sequential(
        mlp([latent, *reversed(widths)], cfg.activation, noise=noise, batch_norm=cfg.batch_norm),
        nn.Unflatten(1, tuple(image_shape)),
    )
    return Architecture(encoder, decoder, (latent,))


def conv_channels(cfg, image_shape) -> tuple[int, ...]:
    """``cfg.channels``, or 64 maps per stage with as many stages as reach 4x4 or less."""
    if cfg.channels:
        return tuple(cfg.channels)
    side, stages = max(image_shape[1:]), 0
    while side > CONV_TARGET_SIDE or stages == 0:
        side, stages = math.ceil(side / 2), stages + 1
    return (CONV_DEFAULT_WIDTH,) * stages


def latent_maps(cfg, image_shape, latent_side: tuple[int, int], last: int) -> int:
    """Maps of the spatial latent: ``round(C H W / (latent_ratio h w))`` (at least 1) for a
    latent of ``h`` x ``w`` sites, or the last stage's width ``last`` when the ratio is None."""
    if cfg.latent_ratio is None:
        return last
    sites = latent_side[0] * latent_side[1]
    return max(1, round(math.prod(image_shape) / (cfg.latent_ratio * sites)))


def _conv(cfg, image_shape, k: int, noise: float) -> Architecture:
    c, h, w = image_shape
    channels = conv_channels(cfg, image_shape)
    sizes = [(h, w)]
    for _ in channels:
        sizes.append(tuple(math.ceil(s / 2) for s in sizes[-1]))
    widths = [c, *channels]
    down = [
        conv_down(a, b, cfg.activation, cfg.batch_norm, noise)
        for a, b in itertools.pairwise(widths)
    ]
    last, (lh, lw) = channels[-1], sizes[-1]
    if cfg.latent_dim is None:  # spatial latent
        maps = latent_maps(cfg, image_shape, (lh, lw), last)
        latent_shape: tuple[int, ...] = (maps, lh, lw)
        head = nn.Conv2d(last, k * maps, 1)
        stem: list[nn.Module] = []
        if maps != last:
            stem = [nn.Conv2d(maps, last, 1), activation(cfg.activation)]
    else:
        latent_shape = (cfg.latent_dim,)
        head = nn.Sequential(nn.Flatten(), nn.Linear(last * lh * lw, k * cfg.latent_dim))
        stem = [nn.Linear(cfg.latent_dim, last * lh * lw), nn.Unflatten(1, (last, lh, lw))]
        stem += [activation(cfg.activation)]
    up: list[nn.Module] = []
    for i in range(len(channels), 0, -1):
        up.append(conv_up(widths[i], widths[i - 1], sizes[i - 1], sizes[i]))
        if i > 1:
            up += [nn.BatchNorm2d(widths[i - 1])] if cfg.batch_norm else []
            up.append(activation(cfg.activation))
            up += [GaussianNoise(noise)] if noise > 0 else []
    return Architecture(nn.Sequential(*down, head), nn.Sequential(*stem, *up), latent_shape)


CELEBA_LATENT = 16  # Barron 2019, VAE experiment
CELEBA_DEPTHS = (32, 32, 64, 64, 128)  # then 4 x latent


def _celeba_vae(cfg, image_shape, k: int, noise: float) -> Architecture:
    c, h, w = image_shape
    latent = cfg.latent_dim or CELEBA_LATENT
    depths = [c, *CELEBA_DEPTHS, 4 * latent]
    sizes = [(h, w)]
    for _ in range(len(depths) - 1):
        sizes.append(tuple(math.ceil(s / 2) for s in sizes[-1]))
    down: list[nn.Module] = []
    for a, b in itertools.pairwise(depths):
        down += [nn.Conv2d(a, b, 5, stride=2, padding=2), nn.LeakyReLU()]
    lh, lw = sizes[-1]
    encoder = nn.Sequential(*down, nn.Flatten(), nn.Linear(depths[-1] * lh * lw, k * latent))
    if (lh, lw) == (1, 1):
        stem: list[nn.Module] = [nn.Unflatten(1, (latent, 1, 1))]
    else:
        stem = [nn.Linear(latent, latent * lh * lw), nn.Unflatten(1, (latent, lh, lw))]
    widths = [latent, *reversed(CELEBA_DEPTHS), CELEBA_DEPTHS[0]]
    up: list[nn.Module] = []
    for i, (a, b) in enumerate(itertools.pairwise(widths)):
        size_in, size_out = sizes[len(sizes) - 1 - i], sizes[len(sizes) - 2 - i]
        pad = tuple(o - (2 * s - 1) for o, s in zip(size_out, size_in))
        up += [nn.ConvTranspose2d(a, b, 5, stride=2, padding=2, output_padding=pad)]
        up += [nn.LeakyReLU()]
    up.append(nn.Conv2d(widths[-1], c, 5, padding=2))
    return Architecture(encoder, nn.Sequential(*stem, *up), (latent,))


ARCHITECTURES = {"mlp": _mlp, "conv": _conv, "celeba-vae": _celeba_vae}


def build_architecture(cfg, image_shape, code_multiplier: int = 1, noise: float = 0.0):
    """The encoder/decoder pair named ``cfg.arch`` for images of ``image_shape`` (C, H, W)."""
    if len(image_shape) != 3:
        raise ConfigError(f"image shape must be (C, H, W), got {tuple(image_shape)}")
    return lookup(ARCHITECTURES, cfg.arch, "architecture")(
        cfg, tuple(image_shape), code_multiplier, noise
    )
