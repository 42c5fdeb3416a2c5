"""Reconstruction and ELBO scores against direct numpy and torchmetrics computations."""

import math

import numpy as np
import pytest
import torch
from torchmetrics.functional.image import peak_signal_noise_ratio

from reprlab.evaluate.reconstruction import elbo_scores, reconstruction_scores


def test_mse_and_psnr_match_torchmetrics_per_image():
    rng = np.random.default_rng(0)
    x = rng.random((6, 1, 5, 5))
    y = np.clip(x + rng.normal(scale=0.1, size=x.shape), 0, 1)
    out = reconstruction_scores(x, y)
    assert out["mse"] == pytest.approx(((x - y) ** 2).mean())
    per_image = [
        float(peak_signal_noise_ratio(torch.tensor(b), torch.tensor(a), data_range=1.0))
        for a, b in zip(x, y)
    ]
    assert out["psnr"] == pytest.approx(np.mean(per_image))


def test_perfect_reconstruction_is_finite():
    x = np.zeros((2, 3))
    assert reconstruction_scores(x, x) == {"mse": 0.0, "psnr": 100.0}


def test_bits_per_dim_of_uniform_density_is_eight():
    # the uniform density on [0, 1] has log-likelihood 0: 8 bits on 256 levels
    out = elbo_scores(np.zeros(4), dims=784)
    assert out["elbo"] == 0.0
    assert out["bits_per_dim"] == pytest.approx(8.0)
    out = elbo_scores([784 * math.log(2), 784 * math.log(2)], dims=784)
    assert out["elbo"] == pytest.approx(-784 * math.log(2))
    assert out["bits_per_dim"] == pytest.approx(9.0)
