"""The ``anneal`` schedule: lr held, then linear to 0 from ``anneal_from`` (Barron 2019's VAE),
each epoch at the mean of the per-step ramp over it."""

import numpy as np
import pytest
import torch

from reprlab.train.config import TrainConfig
from reprlab.train.loop import anneal_factor, make_scheduler


@pytest.mark.parametrize("epochs", [1, 3, 9, 10])
def test_anneal_factor_is_the_epoch_mean_of_the_per_step_ramp(epochs):
    steps = 10_000 * epochs
    p = (np.arange(steps) + 0.5) / steps  # each step's fraction of training
    ramp = np.minimum(1.0, (1 - p) / (1 - 0.8))
    per_epoch = ramp.reshape(epochs, -1).mean(1)
    got = [anneal_factor(e, epochs, 0.8) for e in range(epochs)]
    np.testing.assert_allclose(got, per_epoch, atol=1e-6)


def test_anneal_schedule_steps_the_optimiser_per_epoch():
    parameter = torch.nn.Parameter(torch.zeros(1))
    optimiser = torch.optim.Adam([parameter], lr=1e-3)
    scheduler = make_scheduler(optimiser, TrainConfig(epochs=10, schedule="anneal"))
    lrs = []
    for _ in range(10):
        lrs.append(optimiser.param_groups[0]["lr"])
        optimiser.step()
        scheduler.step()
    np.testing.assert_allclose(lrs[:8], 1e-3)
    np.testing.assert_allclose(lrs[8:], [0.75e-3, 0.25e-3])
