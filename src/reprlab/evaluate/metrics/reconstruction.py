"""Reconstruction error and ELBO of autoencoders (``reprlab.evaluate.reconstruction``)."""

import math

import numpy as np
import torch

from reprlab.evaluate.context import EvalContext, NotApplicable
from reprlab.evaluate.reconstruction import elbo_scores, reconstruction_scores


def reconstruction(ctx: EvalContext) -> dict:
    """reconstruction MSE and PSNR (dB) on the split, images in [0, 1]"""
    images = ctx.split().images.float() / 255
    return reconstruction_scores(images.numpy(), ctx.reconstructions().numpy())


@torch.no_grad()
def elbo(ctx: EvalContext) -> dict:
    """ELBO (nats per image) and bits per dimension of a VAE with a normalised likelihood"""
    ctx.require("has_prior")
    model, split = ctx.model.eval(), ctx.split()
    torch.manual_seed(ctx.seed)
    total = 0.0
    for start in range(0, len(split), ctx.batch_size):
        x = split.images[start : start + ctx.batch_size].float() / 255
        y = split.labels[start : start + ctx.batch_size]
        terms = model.loss((x, y)).terms
        if "elbo" not in terms:
            raise NotApplicable("the model reports no 'elbo' term (not a VAE with a likelihood)")
        total += float(terms["elbo"]) * len(x)
    return elbo_scores(np.array([-total / len(split)]), math.prod(ctx.dataset.image_shape))
