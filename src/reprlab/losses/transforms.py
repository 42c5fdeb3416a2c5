"""Linear image representations in torch: 2-D DCT-II, CDF 9/7 and LeGall 5/3 wavelets, YUV.

The spatial transforms act on the last two dimensions (height, width) of an NCHW tensor (any
leading dimensions), the colour transform on dim -3; all work in float32 and float64, on any
size (odd ones included), are differentiable, and are exactly invertible.

- ``dct2``/``idct2``: orthonormal 2-D DCT-II (the transform is a rotation: energy is preserved).
- ``dwt2``/``idwt2``: multi-level separable lifting wavelets with whole-sample symmetric
  extension (JPEG 2000, ISO/IEC 15444-1 Annex F). Biorthogonal, *not* orthonormal: energy is
  only approximately preserved (a level's singular values lie in about [0.77, 1.27] for
  CDF 9/7 and [0.69, 1.45] for LeGall 5/3) and |det| is 1 only for even sizes (see
  ``wavelet_log_abs_det``). Coefficients are normalised like PyWavelets: the CDF 9/7 output equals
  ``pywt.dwt(x, 'bior4.4', mode='reflect')`` and LeGall 5/3 equals ``'bior2.2'`` on the
  non-redundant coefficients (see ``dwt1d``).
- ``rgb_to_yuv``/``yuv_to_rgb``: BT.601 YUV scaled to determinant 1 (volume preserving), as in
  Barron, "A General and Adaptive Robust Loss Function", CVPR 2019, Sec. 3.1.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import lru_cache

import torch
from torch import Tensor

from reprlab.errors import ConfigError
from reprlab.registry import lookup

__all__ = [
    "RGB_TO_YUV",
    "WAVELETS",
    "LiftingScheme",
    "dct2",
    "dct_matrix",
    "default_wavelet_levels",
    "dwt1d",
    "dwt2",
    "idct2",
    "idwt1d",
    "idwt2",
    "max_wavelet_levels",
    "resolve_wavelet_levels",
    "rgb_to_yuv",
    "subband_slices",
    "wavelet_log_abs_det",
    "wavelet_matrix_1d",
    "yuv_to_rgb",
]


# --------------------------------------------------------------------------------------------
# DCT-II


@lru_cache(maxsize=64)
def _dct_matrix_f64(n: int) -> Tensor:
    k = torch.arange(n, dtype=torch.float64)[:, None]
    i = torch.arange(n, dtype=torch.float64)[None, :]
    d = torch.cos(math.pi * (2 * i + 1) * k / (2 * n)) * math.sqrt(2.0 / n)
    d[0] /= math.sqrt(2.0)
    return d


def dct_matrix(n: int, dtype: torch.dtype = torch.float64, device=None) -> Tensor:
    """Orthonormal DCT-II matrix D (n x n): D[k, i] = s_k cos(pi (2i + 1) k / 2n), s_0 = sqrt(1/n),
    s_k = sqrt(2/n); D D^T = I. Same as ``scipy.fft.dct(norm='ortho')``."""
    return _dct_matrix_f64(int(n)).to(dtype=dtype, device=device, copy=True)


def dct2(x: Tensor) -> Tensor:
    """Orthonormal 2-D DCT-II over the last two dims: Y = D_H X D_W^T (``scipy.fft.dctn``,
    ``norm='ortho'``). Orthonormal: ||Y|| = ||X|| and log |det| = 0."""
    d_h = _dct_matrix_f64(x.shape[-2]).to(x.device, x.dtype)
    d_w = _dct_matrix_f64(x.shape[-1]).to(x.device, x.dtype)
    return d_h @ x @ d_w.T


def idct2(y: Tensor) -> Tensor:
    """Inverse of ``dct2``: X = D_H^T Y D_W (the orthonormal DCT-III)."""
    d_h = _dct_matrix_f64(y.shape[-2]).to(y.device, y.dtype)
    d_w = _dct_matrix_f64(y.shape[-1]).to(y.device, y.dtype)
    return d_h.T @ y @ d_w


# --------------------------------------------------------------------------------------------
# Lifting wavelets


@dataclass(frozen=True)
class LiftingScheme:
    """A symmetric lifting factorisation (Daubechies & Sweldens 1998).

    With ``s = x[0::2]`` and ``d = x[1::2]``, the steps alternate between predict
    ``d[n] += a (s[n] + s[n+1])`` and update ``s[n] += b (d[n-1] + d[n])``; finally
    ``s *= low_gain`` and ``d *= high_gain``. Each step has unit determinant, so the 1-D
    transform of n samples has |det| = low_gain^ceil(n/2) * high_gain^floor(n/2).
    """

    name: str
    steps: tuple[float, ...]
    low_gain: float
    high_gain: float


# JPEG 2000 irreversible 9/7 lifting constants (ISO/IEC 15444-1, Table F.4).
_A97, _B97, _G97, _D97 = (
    -1.586134342059924,
    -0.052980118572961,
    0.882911075530934,
    0.443506852043971,
)
_K97 = 1.230174104914001
_SQRT2 = math.sqrt(2.0)

#: CDF 9/7 with PyWavelets' 'bior4.4' normalisation (low-pass filter sums to sqrt 2, detail
#: coefficients with pywt's sign).
CDF97 = LiftingScheme("cdf97", (_A97, _B97, _G97, _D97), _SQRT2 / _K97, -_K97 / _SQRT2)
#: LeGall 5/3 (JPEG 2000 reversible filter, without rounding) with 'bior2.2' normalisation.
LEGALL53 = LiftingScheme("legall53", (-0.5, 0.25), _SQRT2, -1.0 / _SQRT2)

WAVELETS: dict[str, LiftingScheme] = {"cdf97": CDF97, "legall53": LEGALL53}


def _scheme(wavelet: str | LiftingScheme) -> LiftingScheme:
    if isinstance(wavelet, LiftingScheme):
        return wavelet
    return lookup(WAVELETS, wavelet, "wavelet")


def _right_neighbours(s: Tensor, m: int) -> Tensor:
    """s[n+1] for n < m, with whole-sample symmetry x[N] = x[N-2] (so s[m] = s[m-1] if N even)."""
    if s.shape[-1] > m:  # odd length: s has m + 1 entries
        return s[..., 1 : m + 1]
    return torch.cat([s[..., 1:], s[..., -1:]], dim=-1)


def _left_and_centre(d: Tensor, k: int) -> Tensor:
    """d[n-1] + d[n] for n < k, with x[-1] = x[1] (d[-1] = d[0]) and x[N] = x[N-2]
    (d[m] = d[m-1] when N is odd)."""
    prev = torch.cat([d[..., :1], d[..., : k - 1]], dim=-1)
    centre = d if d.shape[-1] == k else torch.cat([d, d[..., -1:]], dim=-1)
    return prev + centre


def dwt1d(x: Tensor, wavelet: str | LiftingScheme = "cdf97") -> tuple[Tensor, Tensor]:
    """One level of the lifting wavelet along the last dim: returns (low, high) with
    ceil(n/2) and floor(n/2) entries (n >= 2).

    The extension is whole-sample symmetric (x[-k] = x[k], x[n-1+k] = x[n-1-k]), which is
    PyWavelets' mode ``'reflect'`` (mode ``'symmetric'`` is half-sample symmetric and does not
    match). pywt returns redundant coefficients; ours are the slice [o : o + len] of them:
    CDF 9/7 is ``pywt.dwt(x, 'bior4.4', mode='reflect')`` with o = 2, LeGall 5/3 is
    ``'bior2.2'`` with o = 1, including pywt's sign of the detail band.
    """
    scheme = _scheme(wavelet)
    n = x.shape[-1]
    if n < 2:
        raise ConfigError(f"a wavelet level needs at least 2 samples, got {n}; use fewer levels")
    s, d = x[..., 0::2], x[..., 1::2]
    m = d.shape[-1]
    for i, c in enumerate(scheme.steps):
        if i % 2 == 0:  # predict the odd samples from their even neighbours
            d = d + c * (s[..., :m] + _right_neighbours(s, m))
        else:  # update the even samples from their odd neighbours
            s = s + c * _left_and_centre(d, s.shape[-1])
    return s * scheme.low_gain, d * scheme.high_gain


def idwt1d(low: Tensor, high: Tensor, wavelet: str | LiftingScheme = "cdf97") -> Tensor:
    """Inverse of ``dwt1d`` along the last dim (exact up to rounding): undoes the lifting steps
    in reverse order and interleaves the samples."""
    scheme = _scheme(wavelet)
    s, d = low / scheme.low_gain, high / scheme.high_gain
    m = d.shape[-1]
    if s.shape[-1] - m not in (0, 1) or s.shape[-1] == 0:
        raise ValueError(f"low and high bands of sizes {s.shape[-1]} and {m} do not fit together")
    for i in reversed(range(len(scheme.steps))):
        c = scheme.steps[i]
        if i % 2 == 0:
            d = d - c * (s[..., :m] + _right_neighbours(s, m))
        else:
            s = s - c * _left_and_centre(d, s.shape[-1])
    pairs = torch.stack([s[..., :m], d], dim=-1).flatten(-2)
    return torch.cat([pairs, s[..., m:]], dim=-1)


@lru_cache(maxsize=128)
def _level_matrices(n: int, scheme: LiftingScheme) -> tuple[Tensor, Tensor]:
    """(T, T^-1) in float64 for one level of n samples, both built by running the lifting."""
    eye = torch.eye(n, dtype=torch.float64)
    low, high = dwt1d(eye, scheme)
    inverse = idwt1d(eye[:, : (n + 1) // 2], eye[:, (n + 1) // 2 :], scheme)
    return torch.cat([low, high], dim=-1).T, inverse.T


def _matrices(h: int, w: int, scheme: LiftingScheme, like: Tensor, inverse: bool):
    k = 1 if inverse else 0
    m_h, m_w = _level_matrices(h, scheme)[k], _level_matrices(w, scheme)[k]
    return m_h.to(like.device, like.dtype), m_w.to(like.device, like.dtype)


def _dwt_last_two(x: Tensor, scheme: LiftingScheme) -> Tensor:
    """One 2-D level, packed: [[LL, LH], [HL, HH]] along (H, W), same shape as x. Applied as
    T_h X T_w^T with the lifting's matrices: the same numbers, but a few BLAS calls are much
    faster than many small lifting steps on images up to a few hundred pixels a side."""
    t_h, t_w = _matrices(x.shape[-2], x.shape[-1], scheme, x, inverse=False)
    return t_h @ x @ t_w.T


def _idwt_last_two(y: Tensor, scheme: LiftingScheme) -> Tensor:
    s_h, s_w = _matrices(y.shape[-2], y.shape[-1], scheme, y, inverse=True)
    return s_h @ y @ s_w.T


def max_wavelet_levels(height: int, width: int) -> int:
    """The most levels for which every level's input has at least 2 pixels per side."""
    levels, h, w = 0, height, width
    while h >= 2 and w >= 2:
        levels, h, w = levels + 1, (h + 1) // 2, (w + 1) // 2
    return levels


def default_wavelet_levels(height: int, width: int) -> int:
    """The most levels for which every subband of every level is at least 2 x 2 pixels, i.e.
    every level's input has at least 4 pixels per side: 8x8 -> 2 levels, 16 -> 3, 28 and 32 -> 4,
    64 -> 5 (Barron 2019 used 5 levels on 64 x 64 images)."""
    levels, h, w = 0, height, width
    while h >= 4 and w >= 4:
        levels, h, w = levels + 1, (h + 1) // 2, (w + 1) // 2
    return levels


def _check_levels(height: int, width: int, levels: int) -> None:
    top = max_wavelet_levels(height, width)
    if not 0 <= levels <= top:
        raise ConfigError(
            f"{levels} wavelet levels do not fit a {height}x{width} image; use 0 to {top} levels"
        )


def resolve_wavelet_levels(height: int, width: int, levels: int | None) -> int:
    """``levels``, or ``default_wavelet_levels`` if None; ConfigError if they do not fit."""
    levels = default_wavelet_levels(height, width) if levels is None else int(levels)
    _check_levels(height, width, levels)
    return levels


def dwt2(x: Tensor, wavelet: str | LiftingScheme = "cdf97", levels: int | None = None) -> Tensor:
    """Multi-level separable 2-D wavelet transform of the last two dims (Mallat decomposition).

    Returns a tensor of x's shape in the packed layout: each level replaces the current
    top-left low-pass block of size (h, w) by [[LL, LH], [HL, HH]] with LL of size
    (ceil(h/2), ceil(w/2)); the next level transforms LL. ``subband_slices`` names the blocks;
    (LH, HL, HH) are pywt's (cV, cH, cD) (detail along the width, height, both).
    ``levels=None`` uses ``default_wavelet_levels``.

    Each level equals ``pywt.dwt2(block, 'bior4.4' | 'bior2.2', mode='reflect')`` sliced as in
    ``dwt1d``, applied to our (non-redundant) LL block. ``pywt.wavedec2`` differs from the
    second level on, because it re-extends its redundant approximation at its own borders.
    """
    scheme = _scheme(wavelet)
    levels = resolve_wavelet_levels(x.shape[-2], x.shape[-1], levels)
    out, h, w = x, x.shape[-2], x.shape[-1]
    for _ in range(levels):
        block = _dwt_last_two(out[..., :h, :w], scheme)
        out = _put_block(out, block)
        h, w = (h + 1) // 2, (w + 1) // 2
    return out


def idwt2(y: Tensor, wavelet: str | LiftingScheme = "cdf97", levels: int | None = None) -> Tensor:
    """Inverse of ``dwt2`` (same ``wavelet`` and ``levels``); perfect reconstruction."""
    scheme = _scheme(wavelet)
    levels = resolve_wavelet_levels(y.shape[-2], y.shape[-1], levels)
    sizes = [(y.shape[-2], y.shape[-1])]
    for _ in range(levels - 1):
        h, w = sizes[-1]
        sizes.append(((h + 1) // 2, (w + 1) // 2))
    out = y
    for h, w in reversed(sizes[:levels]):
        out = _put_block(out, _idwt_last_two(out[..., :h, :w], scheme))
    return out


def _put_block(full: Tensor, block: Tensor) -> Tensor:
    """``full`` with its top-left corner replaced by ``block`` (out of place, differentiable)."""
    h, w = block.shape[-2:]
    if (h, w) == tuple(full.shape[-2:]):
        return block
    top = torch.cat([block, full[..., :h, w:]], dim=-1)
    return torch.cat([top, full[..., h:, :]], dim=-2)


def subband_slices(height: int, width: int, levels: int | None = None) -> list[dict]:
    """Where each subband lies in ``dwt2``'s packed layout: one dict per level, finest first,
    with keys ``'LH'``, ``'HL'``, ``'HH'`` (and ``'LL'`` on the coarsest level) mapping to
    (row slice, column slice)."""
    levels = resolve_wavelet_levels(height, width, levels)
    out, h, w = [], height, width
    for level in range(levels):
        h2, w2 = (h + 1) // 2, (w + 1) // 2
        bands = {
            "LH": (slice(0, h2), slice(w2, w)),
            "HL": (slice(h2, h), slice(0, w2)),
            "HH": (slice(h2, h), slice(w2, w)),
        }
        if level == levels - 1:
            bands["LL"] = (slice(0, h2), slice(0, w2))
        out.append(bands)
        h, w = h2, w2
    return out


def wavelet_matrix_1d(n: int, wavelet: str | LiftingScheme = "cdf97") -> Tensor:
    """The n x n float64 matrix of one ``dwt1d`` level, [low; high] = T x."""
    return _level_matrices(int(n), _scheme(wavelet))[0].clone()


def wavelet_log_abs_det(
    height: int, width: int, wavelet: str | LiftingScheme = "cdf97", levels: int | None = None
) -> float:
    """log |det| of the linear map ``dwt2`` on one height x width channel.

    Level j acts as T_h (x) T_w on its (h, w) low-pass block and as the identity elsewhere, so
    log |det| = sum_j [w_j log |det T_{h_j}| + h_j log |det T_{w_j}|], and a lifting level of
    n samples has |det T_n| = |low_gain|^ceil(n/2) |high_gain|^floor(n/2) (``LiftingScheme``).
    With pywt's normalisation the gains cancel for even n, so only odd sizes give a non-zero
    value. Tests compare it with ``slogdet`` of the explicit matrix.
    """
    levels = resolve_wavelet_levels(height, width, levels)
    total, h, w = 0.0, height, width
    for _ in range(levels):
        total += w * _log_abs_det_1d(h, wavelet) + h * _log_abs_det_1d(w, wavelet)
        h, w = (h + 1) // 2, (w + 1) // 2
    return total


def _log_abs_det_1d(n: int, wavelet: str | LiftingScheme) -> float:
    scheme = _scheme(wavelet)
    low, high = (n + 1) // 2, n // 2  # pair the gains so that even n gives log |g_l g_h| exactly
    pair = math.log(abs(scheme.low_gain * scheme.high_gain))
    return high * pair + (low - high) * math.log(abs(scheme.low_gain))


# --------------------------------------------------------------------------------------------
# Colour


def _volume_preserving_yuv() -> Tensor:
    # BT.601: Y = 0.299 R + 0.587 G + 0.114 B, U = 0.492 (B - Y), V = 0.877 (R - Y).
    y = torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64)
    u = 0.492 * (torch.tensor([0.0, 0.0, 1.0], dtype=torch.float64) - y)
    v = 0.877 * (torch.tensor([1.0, 0.0, 0.0], dtype=torch.float64) - y)
    m = torch.stack([y, u, v])
    return m / torch.linalg.det(m).abs() ** (1.0 / 3.0)


#: 3 x 3 float64 matrix taking RGB to YUV (rows Y, U, V), BT.601 scaled so that det = 1.
RGB_TO_YUV: Tensor = _volume_preserving_yuv()
_YUV_TO_RGB: Tensor = torch.linalg.inv(RGB_TO_YUV)


def _mix_channels(x: Tensor, matrix: Tensor) -> Tensor:
    if x.dim() < 3 or x.shape[-3] != 3:
        raise ConfigError(f"YUV needs 3 channels in dim -3 (NCHW), got shape {tuple(x.shape)}")
    m = matrix.to(dtype=x.dtype, device=x.device)
    return torch.einsum("ij,...jhw->...ihw", m, x)


def rgb_to_yuv(x: Tensor) -> Tensor:
    """Volume-preserving YUV (``RGB_TO_YUV``, det = 1) of RGB images in dim -3 (NCHW)."""
    return _mix_channels(x, RGB_TO_YUV)


def yuv_to_rgb(x: Tensor) -> Tensor:
    """Inverse of ``rgb_to_yuv``."""
    return _mix_channels(x, _YUV_TO_RGB)
