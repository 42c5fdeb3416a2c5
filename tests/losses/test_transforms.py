"""Image transforms against scipy.fft, PyWavelets and explicit matrices."""

import numpy as np
import pytest
import scipy.fft
import torch

from reprlab.errors import ConfigError, UnknownNameError
from reprlab.losses.transforms import (
    RGB_TO_YUV,
    dct2,
    dct_matrix,
    default_wavelet_levels,
    dwt1d,
    dwt2,
    idct2,
    idwt1d,
    idwt2,
    max_wavelet_levels,
    rgb_to_yuv,
    subband_slices,
    wavelet_log_abs_det,
    wavelet_matrix_1d,
    yuv_to_rgb,
)

pywt = pytest.importorskip("pywt")

# (our name, PyWavelets name, offset of our coefficients in pywt's redundant 'reflect' output)
WAVELETS = [("cdf97", "bior4.4", 2), ("legall53", "bior2.2", 1)]
SIZES = [(8, 8), (16, 16), (28, 28), (32, 32), (64, 64), (9, 7), (13, 22), (5, 4)]
TOL = {torch.float32: 1e-5, torch.float64: 1e-12}


def images(shape, dtype=torch.float64, seed=0):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def full_matrix(transform, height, width):
    """The (H W) x (H W) matrix of a linear map on one channel, by transforming a basis."""
    basis = torch.eye(height * width, dtype=torch.float64).reshape(-1, 1, height, width)
    return transform(basis).reshape(height * width, height * width).T


# ------------------------------------------------------------------------------------ DCT


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("shape", [(2, 1, 8, 8), (2, 3, 16, 16), (1, 3, 28, 28), (2, 3, 9, 7)])
def test_dct2_matches_scipy_and_inverts(shape, dtype):
    x = images(shape, dtype)
    y = dct2(x)
    assert y.dtype == dtype and y.shape == x.shape
    expected = scipy.fft.dctn(x.double().numpy(), type=2, norm="ortho", axes=(-2, -1))
    np.testing.assert_allclose(y.double().numpy(), expected, atol=TOL[dtype] * 10, rtol=0)
    torch.testing.assert_close(idct2(y), x, atol=TOL[dtype] * 10, rtol=0)
    # orthonormal: energy preserved exactly
    torch.testing.assert_close(y.square().sum(), x.square().sum(), rtol=TOL[dtype] * 10, atol=0)


@pytest.mark.parametrize("n", [1, 2, 7, 8, 32])
def test_dct_matrix_is_orthonormal(n):
    d = dct_matrix(n)
    torch.testing.assert_close(d @ d.T, torch.eye(n, dtype=torch.float64), atol=1e-13, rtol=0)


# ------------------------------------------------------------------------------ wavelets


@pytest.mark.parametrize(("name", "pywt_name", "offset"), WAVELETS)
@pytest.mark.parametrize("n", range(2, 21))
def test_dwt1d_matches_pywavelets_reflect(name, pywt_name, offset, n):
    x = images((3, n))
    low, high = dwt1d(x, name)
    assert low.shape[-1] == (n + 1) // 2 and high.shape[-1] == n // 2
    ref_low, ref_high = pywt.dwt(x.numpy(), pywt_name, mode="reflect", axis=-1)
    np.testing.assert_allclose(low.numpy(), ref_low[:, offset : offset + low.shape[-1]], atol=1e-12)
    np.testing.assert_allclose(
        high.numpy(), ref_high[:, offset : offset + high.shape[-1]], atol=1e-12
    )
    torch.testing.assert_close(idwt1d(low, high, name), x, atol=1e-13, rtol=0)


def test_half_sample_symmetric_mode_is_a_different_transform():
    # documents the choice: the lifting uses whole-sample symmetry ('reflect'), not 'symmetric'
    x = images((16,))
    low, _ = dwt1d(x, "cdf97")
    ref_low, _ = pywt.dwt(x.numpy(), "bior4.4", mode="symmetric")
    assert not np.allclose(low.numpy()[:2], ref_low[2:4], atol=1e-6)


@pytest.mark.parametrize(("name", "pywt_name", "offset"), WAVELETS)
@pytest.mark.parametrize(("height", "width"), SIZES)
def test_dwt2_every_level_matches_pywavelets(name, pywt_name, offset, height, width):
    x = images((2, 3, height, width))
    y = dwt2(x, name).numpy()
    approx = x.numpy()
    bands = subband_slices(height, width)
    assert len(bands) == default_wavelet_levels(height, width)
    for level in bands:
        h2, w2 = (approx.shape[-2] + 1) // 2, (approx.shape[-1] + 1) // 2
        ref_a, (ref_h, ref_v, ref_d) = pywt.dwt2(approx, pywt_name, mode="reflect")
        for key, ref in (("LH", ref_v), ("HL", ref_h), ("HH", ref_d)):
            rows, cols = level[key]
            ours = y[..., rows, cols]
            expected = ref[..., offset : offset + ours.shape[-2], offset : offset + ours.shape[-1]]
            np.testing.assert_allclose(ours, expected, atol=1e-11, err_msg=key)
        approx = ref_a[..., offset : offset + h2, offset : offset + w2]
    rows, cols = bands[-1]["LL"]
    np.testing.assert_allclose(y[..., rows, cols], approx, atol=1e-11)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", ["cdf97", "legall53"])
@pytest.mark.parametrize(("height", "width"), SIZES)
def test_dwt2_perfect_reconstruction_at_every_level_count(name, height, width, dtype):
    x = images((2, 3, height, width), dtype)
    for levels in range(max_wavelet_levels(height, width) + 1):
        y = dwt2(x, name, levels)
        assert y.shape == x.shape and y.dtype == dtype
        torch.testing.assert_close(idwt2(y, name, levels), x, atol=TOL[dtype] * 10, rtol=0)


def test_zero_levels_is_identity_and_default_levels_fit():
    x = images((1, 1, 8, 8))
    torch.testing.assert_close(dwt2(x, "cdf97", 0), x)
    expected = {(8, 8): 2, (16, 16): 3, (28, 28): 4, (32, 32): 4, (64, 64): 5, (9, 7): 2}
    for (h, w), levels in expected.items():
        assert default_wavelet_levels(h, w) == levels
        for level in subband_slices(h, w):
            for rows, cols in level.values():
                assert rows.stop - rows.start >= 2 and cols.stop - cols.start >= 2
    assert default_wavelet_levels(3, 64) == 0


@pytest.mark.parametrize(("height", "width"), SIZES)
def test_subbands_tile_the_image(height, width):
    cover = torch.zeros(height, width, dtype=torch.int64)
    for level in subband_slices(height, width):
        for rows, cols in level.values():
            cover[rows, cols] += 1
    assert bool((cover == 1).all())


def test_too_many_levels_and_unknown_wavelet_are_user_errors():
    x = images((1, 1, 8, 8))
    with pytest.raises(ConfigError, match="0 to 3 levels"):
        dwt2(x, "cdf97", 4)
    with pytest.raises(UnknownNameError, match="cdf97"):
        dwt2(x, "haar")


@pytest.mark.parametrize("name", ["cdf97", "legall53"])
@pytest.mark.parametrize(("height", "width", "levels"), [(8, 8, None), (9, 7, None), (5, 6, 3)])
def test_log_abs_det_equals_slogdet_of_the_explicit_matrix(name, height, width, levels):
    matrix = full_matrix(lambda b: dwt2(b, name, levels), height, width)
    expected = torch.linalg.slogdet(matrix).logabsdet.item()
    assert wavelet_log_abs_det(height, width, name, levels) == pytest.approx(expected, abs=1e-10)
    # linear, with the inverse matrix given by idwt2
    inverse = full_matrix(lambda b: idwt2(b, name, levels), height, width)
    torch.testing.assert_close(inverse @ matrix, torch.eye(height * width, dtype=torch.float64))


def test_log_abs_det_is_zero_for_even_sizes_only():
    for name in ("cdf97", "legall53"):
        assert wavelet_log_abs_det(64, 64, name) == 0.0
        assert wavelet_log_abs_det(28, 28, name) != 0.0  # 7 x 7 at the third level
        assert wavelet_log_abs_det(9, 7, name) != 0.0


@pytest.mark.parametrize(("name", "lo", "hi"), [("cdf97", 0.76, 1.29), ("legall53", 0.69, 1.47)])
def test_wavelets_are_biorthogonal_not_orthonormal(name, lo, hi):
    # singular values of one level: bounded (near energy-preserving for CDF 9/7) but not all 1
    for n in (4, 7, 8, 16, 33, 64):
        s = torch.linalg.svdvals(wavelet_matrix_1d(n, name))
        assert lo <= s.min().item() and s.max().item() <= hi
        assert (s - 1).abs().max().item() > 0.1


def test_transforms_are_differentiable():
    x = images((1, 2, 5, 6)).requires_grad_()
    for f in (dct2, idct2, lambda t: dwt2(t, "cdf97"), lambda t: idwt2(t, "legall53", 2)):
        assert torch.autograd.gradcheck(f, (x,))


# ----------------------------------------------------------------------------------- YUV


def test_yuv_is_volume_preserving_bt601():
    assert torch.linalg.det(RGB_TO_YUV).item() == pytest.approx(1.0, abs=1e-14)
    luma = RGB_TO_YUV[0] / RGB_TO_YUV[0].sum()
    torch.testing.assert_close(luma, torch.tensor([0.299, 0.587, 0.114], dtype=torch.float64))
    # grey has no chroma
    grey = torch.full((1, 3, 2, 2), 0.5, dtype=torch.float64)
    assert rgb_to_yuv(grey)[:, 1:].abs().max().item() < 1e-15


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_yuv_inverts_and_applies_per_pixel(dtype):
    x = images((4, 3, 9, 7), dtype)
    y = rgb_to_yuv(x)
    assert y.dtype == dtype
    torch.testing.assert_close(yuv_to_rgb(y), x, atol=TOL[dtype] * 10, rtol=0)
    pixel = x[2, :, 5, 3].double()
    torch.testing.assert_close(y[2, :, 5, 3].double(), RGB_TO_YUV @ pixel, atol=TOL[dtype], rtol=0)


def test_yuv_needs_three_channels():
    with pytest.raises(ConfigError, match="3 channels"):
        rgb_to_yuv(images((2, 1, 8, 8)))


@pytest.mark.parametrize("name", ["cdf97", "legall53"])
@pytest.mark.parametrize(("height", "width"), [(8, 8), (16, 16), (9, 7)])
def test_constant_images_go_to_ll_with_dc_gain_two(name, height, width):
    # pywt normalisation: the low-pass has DC gain sqrt 2 and the high-pass kills constants
    x = torch.full((1, 1, height, width), 0.7, dtype=torch.float64)
    y = dwt2(x, name, 1)
    rows, cols = subband_slices(height, width, 1)[0]["LL"]
    torch.testing.assert_close(y[..., rows, cols], torch.full_like(y[..., rows, cols], 1.4))
    assert y[..., rows.stop :, :].abs().max().item() < 1e-13
    assert y[..., :, cols.stop :].abs().max().item() < 1e-13
