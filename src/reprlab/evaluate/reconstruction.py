"""Reconstruction and likelihood scores.

- MSE: the mean over all test pixels of ``(x - x_hat)^2``, images in [0, 1];
- PSNR: the mean over test images of ``10 log10(1 / MSE_image)`` dB (peak value 1), each
  image's MSE floored at 1e-10 so a perfect reconstruction gives 100 dB, not infinity;
- ELBO (Kingma & Welling 2014, eq. 3): the mean over test images of
  ``E_q[log p(x|z)] - KL(q(z|x) || p(z))`` in nats per image, from the negative ELBO that a
  VAE's ``loss`` reports per image;
- bits per dimension: ``(-ELBO / D + ln 256) / ln 2`` with ``D = C H W``: the ``ln 256`` turns
  a density on [0, 1] into one on the 256 integer pixel levels (the usual discretisation,
  e.g. Theis et al. 2016), so the figure is comparable with discrete-likelihood models.
"""

import math

import numpy as np


def reconstruction_scores(inputs, outputs) -> dict:
    """MSE and PSNR of ``outputs`` against ``inputs`` (arrays ``[N, ...]`` in [0, 1])."""
    x = np.asarray(inputs, dtype=np.float64).reshape(len(inputs), -1)
    y = np.asarray(outputs, dtype=np.float64).reshape(len(outputs), -1)
    per_image = ((x - y) ** 2).mean(1)
    return {
        "mse": float(per_image.mean()),
        "psnr": float((10 * np.log10(1.0 / np.maximum(per_image, 1e-10))).mean()),
    }


def elbo_scores(negative_elbo, dims: int) -> dict:
    """ELBO (nats per image) and bits per dimension from per-image negative ELBOs."""
    elbo = -float(np.mean(np.asarray(negative_elbo, dtype=np.float64)))
    return {"elbo": elbo, "bits_per_dim": (-elbo / dims + math.log(256)) / math.log(2)}
