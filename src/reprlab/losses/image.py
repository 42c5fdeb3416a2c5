"""Adaptive robust loss on an image representation (Barron, "A General and Adaptive Robust Loss
Function", CVPR 2019, Sec. 3.1 and the VAE experiment of Sec. 4).

The residual r = target - input of an image (C, H, W) is mapped by a fixed linear transform
T = spatial ∘ colour (pixels, 2-D DCT-II, CDF 9/7 or LeGall 5/3 wavelets; RGB or volume-preserving
YUV), and every coefficient y_i = (T r)_i gets its own learnable general distribution
(``AdaptiveLoss``: alpha_i, scale_i) or Student's t (``StudentTLoss``). The loss is the negative
log-likelihood of the residual *in pixel space*, by the change of variables r -> T r:

    NLL(r) = sum_i nll(y_i; alpha_i, scale_i) - log |det T|

so NLLs of different representations are comparable. log |det T| is 0 for pixels, the DCT
(orthonormal) and YUV (det 1); the wavelets are biorthogonal and have |det| != 1 on odd sizes
(``transforms.wavelet_log_abs_det``, computed once per image size).
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
from torch import Tensor, nn

from reprlab.errors import ConfigError
from reprlab.losses.adaptive import AdaptiveLoss, StudentTLoss
from reprlab.losses.distribution import sample as sample_general
from reprlab.losses.named import check_reduction
from reprlab.losses.transforms import (
    dct2,
    default_wavelet_levels,
    dwt2,
    idct2,
    idwt2,
    resolve_wavelet_levels,
    rgb_to_yuv,
    wavelet_log_abs_det,
    yuv_to_rgb,
)
from reprlab.registry import lookup

__all__ = ["COLOR_SPACES", "REPRESENTATIONS", "AdaptiveImageLoss"]

#: representation name -> wavelet name (None: no wavelet)
REPRESENTATIONS: dict[str, str | None] = {
    "pixel": None,
    "dct": None,
    "cdf97": "cdf97",
    "legall53": "legall53",
}
COLOR_SPACES: dict[str, str] = {"rgb": "rgb", "yuv": "yuv"}


class AdaptiveImageLoss(nn.Module):
    """Per-coefficient adaptive NLL of ``target - input`` in a fixed image representation.

    Args:
        channels, height, width: the image shape (C, H, W); inputs are [..., C, H, W] (NCHW).
        representation: ``'pixel'``, ``'dct'`` (orthonormal 2-D DCT-II), ``'cdf97'`` or
            ``'legall53'`` (multi-level wavelets in ``transforms.dwt2``'s packed layout).
        color_space: ``'rgb'`` (channels as given) or ``'yuv'`` (``transforms.rgb_to_yuv``,
            det 1; needs 3 channels).
        wavelet_levels: levels of the wavelet; ``None`` picks the most that keep every subband
            at least 2 x 2 (``transforms.default_wavelet_levels``).
        alpha_range, alpha_init, scale_min, scale_init: passed to ``AdaptiveLoss`` (equal alpha
            bounds fix alpha; ``scale_min == scale_init`` fixes the scale).
        use_students_t: model coefficients with ``StudentTLoss`` (learnable degrees of freedom,
            starting at ``df_init``, and scale) instead of the general distribution; ``alpha_*``
            are then unused.
        reduction: ``'none'`` returns the per-coefficient NLL [..., C, H, W] in the
            representation's layout, with -log |det T| spread evenly over the C H W
            coefficients, so summing an image's entries gives its exact NLL; ``'sum'`` sums
            everything; ``'mean'`` averages over all entries (nats per dimension).
    """

    def __init__(
        self,
        channels: int,
        height: int,
        width: int,
        representation: str = "pixel",
        color_space: str = "rgb",
        wavelet_levels: int | None = None,
        alpha_range: tuple[float, float] = (0.001, 1.999),
        alpha_init: float | None = None,
        scale_min: float = 1e-5,
        scale_init: float = 1.0,
        use_students_t: bool = False,
        df_init: float = 1.0,
        reduction: str = "mean",
    ) -> None:
        super().__init__()
        self.image_shape = (int(channels), int(height), int(width))
        if min(self.image_shape) < 1:
            raise ConfigError(f"image shape {self.image_shape} must be positive; check (C, H, W)")
        self.wavelet = lookup(REPRESENTATIONS, representation, "image representation")
        self.representation = representation
        self.color_space = lookup(COLOR_SPACES, color_space, "color space")
        if self.color_space == "yuv" and channels != 3:
            raise ConfigError(
                f"color_space='yuv' needs 3 channels, got {channels}; use color_space='rgb'"
            )
        self.wavelet_levels = self._levels(wavelet_levels)
        self.use_students_t = bool(use_students_t)
        if self.use_students_t:
            self.loss = StudentTLoss(
                self.image_shape, scale_min=scale_min, scale_init=scale_init, df_init=df_init
            )
        else:
            self.loss = AdaptiveLoss(
                self.image_shape,
                alpha_range=alpha_range,
                scale_min=scale_min,
                alpha_init=alpha_init,
                scale_init=scale_init,
            )
        self.reduction = reduction  # also sets the inner loss's reduction
        self.log_abs_det = self._log_abs_det()

    @property
    def reduction(self) -> str:
        return self.loss.reduction

    @reduction.setter
    def reduction(self, value: str) -> None:
        self.loss.reduction = check_reduction(value)

    def _levels(self, levels: int | None) -> int | None:
        if self.wavelet is None:
            if levels is not None:
                raise ConfigError(
                    f"wavelet_levels applies to wavelets, not {self.representation!r}; drop it"
                )
            return None
        _, h, w = self.image_shape
        if levels is None:
            levels = default_wavelet_levels(h, w)
            if levels == 0:
                raise ConfigError(
                    f"a {h}x{w} image is too small for a wavelet (needs 4 pixels a side); "
                    "use representation='pixel' or 'dct', or set wavelet_levels"
                )
        return resolve_wavelet_levels(h, w, levels)  # raises if the levels do not fit

    def _log_abs_det(self) -> float:
        """log |det T| of the whole map on C x H x W: colour on each pixel, then space on each
        channel (det of a composition is the product)."""
        c, h, w = self.image_shape
        total = 0.0  # YUV adds 0: RGB_TO_YUV is scaled to det 1 (up to rounding, ~1e-16)
        if self.wavelet is not None:
            total += c * wavelet_log_abs_det(h, w, self.wavelet, self.wavelet_levels)
        return total

    def _spatial(self, inverse: bool) -> Callable[[Tensor], Tensor]:
        if self.representation == "pixel":
            return lambda x: x
        if self.representation == "dct":
            return idct2 if inverse else dct2
        f = idwt2 if inverse else dwt2
        return lambda x: f(x, self.wavelet, self.wavelet_levels)

    def transform(self, images: Tensor) -> Tensor:
        """The coefficients T x of images [..., C, H, W] (colour, then space)."""
        self._check_shape(images)
        if self.color_space == "yuv":
            images = rgb_to_yuv(images)
        return self._spatial(inverse=False)(images)

    def inverse_transform(self, coefficients: Tensor) -> Tensor:
        """Images T^-1 y from coefficients [..., C, H, W] (e.g. to look at samples)."""
        self._check_shape(coefficients)
        images = self._spatial(inverse=True)(coefficients)
        return yuv_to_rgb(images) if self.color_space == "yuv" else images

    def _check_shape(self, x: Tensor) -> None:
        if tuple(x.shape[-3:]) != self.image_shape or x.dim() < 3:
            raise ConfigError(
                f"expected images [..., C, H, W] = [..., {', '.join(map(str, self.image_shape))}]"
                f" (NCHW), got {tuple(x.shape)}"
            )

    def alpha(self) -> Tensor:
        """Per-coefficient shape parameters [C, H, W] (general distribution only)."""
        if self.use_students_t:
            raise AttributeError("a Student's t loss has no alpha; see .loss")
        return self.loss.alpha()

    def scale(self) -> Tensor:
        """Per-coefficient scales [C, H, W]."""
        return self.loss.scale()

    @torch.no_grad()
    def sample(self, num_images: int, generator: torch.Generator | None = None) -> Tensor:
        """Residual images [num_images, C, H, W] drawn from the model: independent coefficients
        from each one's distribution, mapped back by T^-1. Reproducible given ``generator``."""
        shape = (int(num_images), *self.image_shape)
        scale = self.scale().detach()
        if self.use_students_t:
            df = self.loss.df().detach()
            seed = int(torch.randint(2**62, (), generator=generator))
            with torch.random.fork_rng(devices=[]):  # StudentT has no generator argument
                torch.manual_seed(seed)
                coefficients = torch.distributions.StudentT(df, 0.0, scale).sample(shape[:1])
        else:
            coefficients = sample_general(self.alpha().detach(), scale, shape, generator)
        return self.inverse_transform(coefficients)

    def forward(self, input: Tensor, target: Tensor) -> Tensor:
        """NLL of the residual ``target - input`` (see the class docstring for ``reduction``)."""
        coefficients = self.transform(target - input)
        nll = self.loss(coefficients)  # reduced by the inner loss, which shares our reduction
        if self.log_abs_det == 0.0:
            return nll
        per_coefficient = self.log_abs_det / math.prod(self.image_shape)
        if self.reduction == "sum":
            images = coefficients.numel() // math.prod(self.image_shape)
            return nll - images * self.log_abs_det
        return nll - per_coefficient

    def extra_repr(self) -> str:
        c, h, w = self.image_shape
        levels = f", wavelet_levels={self.wavelet_levels}" if self.wavelet else ""
        dist = "students_t" if self.use_students_t else "general"
        return (
            f"channels={c}, height={h}, width={w}, representation={self.representation!r}, "
            f"color_space={self.color_space!r}{levels}, distribution={dist}, "
            f"reduction={self.reduction!r}"
        )
