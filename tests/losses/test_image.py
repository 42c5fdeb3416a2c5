"""AdaptiveImageLoss: a proper pixel likelihood in every representation and colour space."""

import functools
import math

import numpy as np
import pytest
import scipy.stats
import torch

from reprlab.errors import ConfigError, UnknownNameError
from reprlab.losses.distribution import nll as general_nll
from reprlab.losses.image import AdaptiveImageLoss
from reprlab.losses.transforms import wavelet_log_abs_det

REPRESENTATIONS = ["pixel", "dct", "cdf97", "legall53"]
CONFIGS = [
    (channels, size, representation, color_space)
    for channels, size in [(1, 8), (3, 16), (3, 32)]
    for representation in REPRESENTATIONS
    for color_space in (["rgb"] if channels == 1 else ["rgb", "yuv"])
]


def randn(shape, seed=0, dtype=torch.float32):
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


def perturb_parameters(module, seed=1):
    """Move every learnable parameter off its initial value, reproducibly."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for p in module.parameters():
            p.add_(0.5 * torch.randn(p.shape, generator=g, dtype=p.dtype))


def full_matrix(loss, dtype=torch.float64):
    """The matrix of the loss's linear representation on flattened C x H x W images."""
    d = math.prod(loss.image_shape)
    basis = torch.eye(d, dtype=dtype).reshape(d, *loss.image_shape)
    return loss.transform(basis).reshape(d, d).T


@pytest.mark.parametrize(("channels", "size", "representation", "color_space"), CONFIGS)
def test_every_representation_trains(channels, size, representation, color_space):
    loss = AdaptiveImageLoss(channels, size, size, representation, color_space)
    images = torch.rand(4, channels, size, size, generator=torch.Generator().manual_seed(0))
    output = (images + 0.05 * randn(images.shape)).requires_grad_()
    value = loss(output, images)
    assert value.shape == () and torch.isfinite(value)
    value.backward()
    assert torch.isfinite(output.grad).all() and output.grad.abs().sum() > 0
    params = list(loss.parameters())
    assert params, "the loss has learnable alpha and scale"
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all() and p.grad.abs().sum() > 0
    assert loss.alpha().shape == (channels, size, size)
    assert loss.scale().shape == (channels, size, size)
    # the transform is exactly invertible
    back = loss.inverse_transform(loss.transform(images.double()))
    torch.testing.assert_close(back, images.double(), atol=1e-12, rtol=0)


@pytest.mark.parametrize(
    ("channels", "height", "width", "representation", "color_space"),
    [
        (1, 8, 8, "pixel", "rgb"),
        (3, 16, 16, "dct", "yuv"),
        (3, 9, 7, "cdf97", "yuv"),
        (1, 13, 10, "legall53", "rgb"),
        (3, 32, 32, "cdf97", "rgb"),
    ],
)
def test_nll_is_the_sum_of_coefficient_nlls_minus_log_det(
    channels, height, width, representation, color_space
):
    loss = AdaptiveImageLoss(
        channels, height, width, representation, color_space, reduction="none"
    ).double()
    perturb_parameters(loss)
    target = randn((3, channels, height, width), seed=2, dtype=torch.float64)
    input = randn((3, channels, height, width), seed=3, dtype=torch.float64)
    per_coefficient = loss(input, target)
    assert per_coefficient.shape == target.shape
    coefficients = loss.transform(target - input)
    alpha, scale = loss.alpha(), loss.scale()
    assert alpha.std() > 0 and scale.std() > 0  # the parameters really are per coefficient
    expected = general_nll(coefficients, alpha, scale).sum(dim=(1, 2, 3))
    expected = expected - loss.log_abs_det
    torch.testing.assert_close(per_coefficient.sum(dim=(1, 2, 3)), expected)
    # the reductions agree with 'none'
    loss.reduction = "sum"
    torch.testing.assert_close(loss(input, target), per_coefficient.sum())
    loss.reduction = "mean"
    torch.testing.assert_close(loss(input, target), per_coefficient.mean())


def test_log_det_is_that_of_the_whole_linear_map():
    for args in [(3, 9, 7, "cdf97", "yuv"), (1, 7, 5, "legall53", "rgb"), (3, 8, 8, "dct", "yuv")]:
        loss = AdaptiveImageLoss(*args)
        expected = torch.linalg.slogdet(full_matrix(loss)).logabsdet.item()
        assert loss.log_abs_det == pytest.approx(expected, abs=1e-9)
    assert AdaptiveImageLoss(3, 9, 7, "cdf97").log_abs_det == pytest.approx(
        3 * wavelet_log_abs_det(9, 7, "cdf97")
    )
    assert AdaptiveImageLoss(3, 9, 7, "cdf97").log_abs_det != 0.0  # the term matters


@pytest.mark.parametrize(
    ("channels", "height", "width", "representation", "color_space"),
    [
        (3, 9, 7, "cdf97", "yuv"),
        (1, 7, 5, "legall53", "rgb"),
        (3, 6, 5, "dct", "yuv"),
        (1, 6, 6, "pixel", "rgb"),
    ],
)
def test_gaussian_case_is_the_multivariate_normal_density_of_the_pixels(
    channels, height, width, representation, color_space
):
    # alpha = 2, scale c: coefficients y = T r ~ N(0, c^2 I), so r ~ N(0, c^2 (T^T T)^-1)
    c = 0.3
    loss = AdaptiveImageLoss(
        channels,
        height,
        width,
        representation,
        color_space,
        alpha_range=(2.0, 2.0),
        scale_min=c,
        scale_init=c,
        reduction="none",
    ).double()
    torch.testing.assert_close(loss.alpha(), torch.full_like(loss.alpha(), 2.0))
    torch.testing.assert_close(loss.scale(), torch.full_like(loss.scale(), c))
    t = full_matrix(loss).numpy()
    covariance = c**2 * np.linalg.inv(t.T @ t)
    residual = randn((5, channels, height, width), seed=4, dtype=torch.float64) * c
    ours = loss(torch.zeros_like(residual), residual).sum(dim=(1, 2, 3)).detach().numpy()
    d = math.prod(loss.image_shape)
    expected = -scipy.stats.multivariate_normal(np.zeros(d), covariance).logpdf(
        residual.reshape(5, d).numpy()
    )
    # log Z(2) comes from the package's table, accurate to 1e-7 per coefficient
    np.testing.assert_allclose(ours, expected, rtol=0, atol=d * 1e-7)
    assert loss.log_abs_det == 0.0 or abs(loss.log_abs_det) > 1e-2  # the term is visible


def test_isotropic_gaussian_nll_is_the_same_in_pixels_and_dct():
    # the DCT is a rotation and YUV has det 1: an isotropic Gaussian gives the same NLL
    kwargs = dict(alpha_range=(2.0, 2.0), scale_min=0.2, scale_init=0.2, reduction="sum")
    residual = randn((4, 3, 8, 8), seed=5, dtype=torch.float64)
    zero = torch.zeros_like(residual)
    pixel = AdaptiveImageLoss(3, 8, 8, "pixel", "rgb", **kwargs).double()(zero, residual)
    dct = AdaptiveImageLoss(3, 8, 8, "dct", "rgb", **kwargs).double()(zero, residual)
    torch.testing.assert_close(dct, pixel)


def test_students_t_is_a_pixel_likelihood_too():
    loss = AdaptiveImageLoss(3, 9, 7, "cdf97", "yuv", use_students_t=True, reduction="none")
    loss = loss.double()
    perturb_parameters(loss)
    residual = randn((2, 3, 9, 7), seed=6, dtype=torch.float64)
    ours = loss(torch.zeros_like(residual), residual).sum(dim=(1, 2, 3))
    y = loss.transform(residual)
    df, scale = loss.loss.df(), loss.loss.scale()
    assert df.shape == scale.shape == (3, 9, 7)
    log_p = scipy.stats.t.logpdf(y.numpy(), df=df.detach().numpy(), scale=scale.detach().numpy())
    expected = -log_p.sum(axis=(1, 2, 3)) - loss.log_abs_det
    np.testing.assert_allclose(ours.detach().numpy(), expected, rtol=1e-9)
    with pytest.raises(AttributeError):
        loss.alpha()


def test_float64_input_and_state_dict_round_trip():
    loss = AdaptiveImageLoss(3, 16, 16, "cdf97", "yuv")
    perturb_parameters(loss)
    clone = AdaptiveImageLoss(3, 16, 16, "cdf97", "yuv")
    clone.load_state_dict(loss.state_dict())
    x, y = randn((2, 3, 16, 16), seed=7), randn((2, 3, 16, 16), seed=8)
    torch.testing.assert_close(clone(x, y), loss(x, y))
    value64 = loss.double()(x.double(), y.double())
    assert value64.dtype == torch.float64
    torch.testing.assert_close(value64.float(), loss.float()(x, y))


def test_user_errors_name_the_problem():
    with pytest.raises(ConfigError, match="3 channels"):
        AdaptiveImageLoss(1, 8, 8, "dct", "yuv")
    with pytest.raises(UnknownNameError, match="cdf97"):
        AdaptiveImageLoss(3, 8, 8, "haar")
    with pytest.raises(UnknownNameError, match="yuv"):
        AdaptiveImageLoss(3, 8, 8, "dct", "lab")
    with pytest.raises(ConfigError, match="wavelet_levels"):
        AdaptiveImageLoss(3, 8, 8, "dct", wavelet_levels=2)
    with pytest.raises(ConfigError, match="0 to 3 levels"):
        AdaptiveImageLoss(3, 8, 8, "cdf97", wavelet_levels=4)
    with pytest.raises(ConfigError, match="too small"):
        AdaptiveImageLoss(1, 3, 8, "legall53")
    with pytest.raises(ConfigError, match="reduction"):
        AdaptiveImageLoss(1, 8, 8, reduction="avg")
    loss = AdaptiveImageLoss(1, 8, 8, "cdf97")
    with pytest.raises(ConfigError, match="NCHW"):
        loss(torch.zeros(2, 8, 8, 1), torch.zeros(2, 8, 8, 1))  # NHWC is refused
    assert AdaptiveImageLoss(1, 3, 8, "legall53", wavelet_levels=1).wavelet_levels == 1


def test_fitting_recovers_heavy_tails_where_they_are():
    # residuals whose DCT coefficients are Cauchy in the first row and Normal elsewhere
    g = torch.Generator().manual_seed(9)
    n, size = 1000, 4
    coefficients = torch.randn(n, 1, size, size, generator=g)
    uniform = torch.rand(n, 1, 1, size, generator=g)
    coefficients[:, :, :1, :] = torch.tan(math.pi * (uniform - 0.5))  # standard Cauchy
    loss = AdaptiveImageLoss(1, size, size, "dct", alpha_range=(0.001, 2.999))
    residual = loss.inverse_transform(coefficients)
    optimizer = torch.optim.Adam(loss.parameters(), lr=0.3)
    zero = torch.zeros_like(residual)
    for _ in range(300):
        optimizer.zero_grad()
        loss(zero, residual).backward()
        optimizer.step()
    alpha = loss.alpha().detach()[0]
    assert alpha[0].max() < 0.35, alpha  # slowly heading to 0
    assert alpha[1:].min() > 1.6, alpha  # about 2
    # the matching representation explains the data better than pixels do
    pixel = AdaptiveImageLoss(1, size, size, "pixel", alpha_range=(0.001, 2.999))
    optimizer = torch.optim.Adam(pixel.parameters(), lr=0.3)
    for _ in range(300):
        optimizer.zero_grad()
        pixel(zero, residual).backward()
        optimizer.step()
    with torch.no_grad():
        assert loss(zero, residual) < pixel(zero, residual)


@pytest.mark.parametrize("use_students_t", [False, True])
def test_samples_have_the_modelled_coefficient_distribution(use_students_t):
    kwargs = dict(use_students_t=True, df_init=3.0) if use_students_t else {}
    loss = AdaptiveImageLoss(3, 9, 7, "cdf97", "yuv", scale_init=0.5, **kwargs)
    perturb_parameters(loss, seed=10)
    images = loss.sample(4000, generator=torch.Generator().manual_seed(11))
    again = loss.sample(4000, generator=torch.Generator().manual_seed(11))
    torch.testing.assert_close(images, again)  # reproducible from the generator
    assert images.shape == (4000, 3, 9, 7)
    coefficients = loss.transform(images.double())
    scale = loss.scale().detach().double()
    for index in [(0, 0, 0), (1, 4, 5), (2, 8, 6)]:
        z = (coefficients[(slice(None), *index)] / scale[index]).numpy()
        if use_students_t:
            reference = scipy.stats.t(df=loss.loss.df()[index].item()).cdf
        else:  # the CDF of distribution.nll's density, by the trapezoid rule
            grid = torch.linspace(-60, 60, 240001, dtype=torch.float64)
            a = loss.alpha()[index].detach().double()
            density = torch.exp(-general_nll(grid, a, torch.tensor(1.0, dtype=torch.float64)))
            cdf = torch.cumulative_trapezoid(density, grid)
            cdf = cdf + 0.5 * (1.0 - cdf[-1])  # the mass beyond +-60, split evenly
            reference = functools.partial(np.interp, xp=grid[1:].numpy(), fp=cdf.numpy())
        assert scipy.stats.kstest(z, reference).pvalue > 1e-3
