"""Objectives against pytorch-metric-learning and numpy."""

import numpy as np
import pytest
import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning import miners as pml_miners

from reprlab.losses.magnet import magnet_loss
from reprlab.metric_learning.objectives import (
    MagnetObjective,
    ProxyAnchorObjective,
    RepMetObjective,
    TripletObjective,
)


def batch(seed=0, n=24, dim=6, classes=4):
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, dim, generator=g), torch.arange(n) % classes


def test_magnet_objective_tracks_mean_sigma2():
    objective = MagnetObjective(alpha=0.5)
    sigma2 = []
    for seed in range(3):
        emb, y = batch(seed)
        loss, _ = objective(emb, y, y)
        assert torch.allclose(loss, magnet_loss(emb, y, y, alpha=0.5))
        means = torch.stack([emb[y == c].mean(0) for c in range(4)])
        sigma2.append(float(((emb - means[y]) ** 2).sum() / (len(y) - 1)))
    assert objective.sigma2_mean == pytest.approx(np.mean(sigma2), rel=1e-6)
    objective.eval()
    objective(*batch(9), None)
    assert int(objective.sigma2_count) == 3  # evaluation does not count
    assert MagnetObjective().sigma2_mean is None


def test_triplet_objective_is_pml_batch_hard():
    emb, y = batch(1)
    loss, per = TripletObjective(margin=0.3)(emb, y)
    miner, ref = pml_miners.BatchHardMiner(), pml_losses.TripletMarginLoss(margin=0.3)
    assert per is None and torch.allclose(loss, ref(emb, y, miner(emb, y)))
    assert loss > 0


def test_proxy_anchor_objective_is_pml_and_seeded():
    emb, y = batch(2)
    objective = ProxyAnchorObjective(4, 6, seed=3)
    ref = pml_losses.ProxyAnchorLoss(4, 6)
    ref.proxies.data.copy_(objective.loss.proxies.data)
    assert torch.allclose(objective(emb, y)[0], ref(emb, y))
    assert torch.equal(objective.loss.proxies, ProxyAnchorObjective(4, 6, seed=3).loss.proxies)
    assert len(list(objective.parameters())) == 1


def test_repmet_objective_trains_representatives():
    emb, y = batch(3)
    objective = RepMetObjective(4, 2, 6, version="hinge")
    loss, per = objective(emb, y)
    assert per.shape == (24,) and torch.isclose(loss, per.mean())
    loss.backward()
    assert objective.loss.representatives.grad.abs().sum() > 0
