"""Seed 003's "My Loss": a hand computation, a brute-force loop, the objective, and the batches
RepMet and My Loss train on (Magnet's M x D cluster batches)."""

import pytest
import torch

from reprlab.data import Split
from reprlab.losses.my_loss import MyLoss, my_loss
from reprlab.metric_learning.objectives import OBJECTIVES, MyLossObjective
from reprlab.metric_learning.sampler import MagnetBatchLoader
from reprlab.models import ModelConfig, build_model


def test_my_loss_by_hand():
    # 1-D: samples 0, 1 (class 0) and 1.5 (class 1); representatives 0.5 (class 0), 2 (class 1)
    # and 1.2 (class 2, absent from the batch, so it takes no part)
    x = torch.tensor([[0.0], [1.0], [1.5]])
    y = torch.tensor([0, 0, 1])
    reps = torch.tensor([[0.5], [2.0], [1.2]])
    rep_labels = torch.tensor([0, 1, 2])
    # d(n, j): n0: .25, 4; n1: .25, 1; n2: 1, .25.  m_0 = max(.25, .25) = .25, m_1 = .25
    # n0 pays relu(m_1 + 1 - 4) = 0; n1 pays relu(1.25 - 1) = .25; n2 pays relu(1.25 - 1) = .25
    # each divided by |J| = 2 present representatives
    per = my_loss(x, y, reps, rep_labels, alpha=1.0, reduction="none")
    mean = my_loss(x, y, reps, rep_labels, alpha=1.0)
    torch.testing.assert_close(per, torch.tensor([0.0, 0.125, 0.125]))
    torch.testing.assert_close(mean, torch.tensor(0.25 / 3))


def _brute(x, y, reps, rep_labels, alpha):
    present = [j for j in range(len(reps)) if (y == rep_labels[j]).any()]
    d = lambda n, j: float(((x[n] - reps[j]) ** 2).sum())  # noqa: E731
    far = {j: max(d(n, j) for n in range(len(x)) if y[n] == rep_labels[j]) for j in present}
    out = []
    for n in range(len(x)):
        total = sum(max(0.0, far[j] + alpha - d(n, j)) for j in present if rep_labels[j] != y[n])
        out.append(total / len(present))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_my_loss_matches_a_brute_force_loop(seed):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(20, 3, generator=g, dtype=torch.float64)
    y = torch.randint(0, 4, (20,), generator=g)
    reps = torch.randn(5 * 2, 3, generator=g, dtype=torch.float64)  # 5 classes, K = 2
    rep_labels = torch.arange(5).repeat_interleave(2)
    per = my_loss(x, y, reps, rep_labels, alpha=0.7, reduction="none")
    torch.testing.assert_close(per, _brute(x, y, reps, rep_labels, 0.7))


def test_my_loss_objective_trains_its_representatives():
    objective = OBJECTIVES["my-loss"](3, 2, 4, alpha=1.0, seed=0)
    assert isinstance(objective, MyLossObjective) and isinstance(objective.loss, MyLoss)
    x, y = torch.randn(12, 4), torch.arange(12) % 3
    loss, per = objective(x, y)
    assert per.shape == (12,) and torch.isclose(loss, per.mean())
    loss.backward()
    assert objective.loss.representatives.grad is not None
    assert torch.equal(objective.loss.rep_labels, torch.tensor([0, 0, 1, 1, 2, 2]))
    with pytest.raises(ValueError, match="representatives must be"):
        objective.loss.set_representatives(torch.zeros(5, 4))


class _Data:
    image_shape, num_classes = (1, 8, 8), 4

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        images = torch.randint(0, 256, (80, 1, 8, 8), generator=g, dtype=torch.uint8)
        self.train = Split(images, torch.arange(80) % 4)


@pytest.mark.parametrize("objective", ["magnet", "repmet", "my-loss"])
def test_repmet_and_my_loss_train_on_magnets_cluster_batches(objective):
    metric = {"objective": objective, "embedding_dim": 4, "hidden": [16],
              "clusters_per_class": 2, "clusters_per_batch": 4, "samples_per_cluster": 3,
              "steps_per_epoch": 7, "seed": 0}  # fmt: skip
    model = build_model(ModelConfig(name="embedder", metric=metric), _Data())
    loader = model.train_loader(_Data(), config=None)
    assert isinstance(loader, MagnetBatchLoader) and len(loader) == 7
    x, y, clusters = next(iter(loader.epoch(0)))
    assert len(x) == 4 * 3 and len(torch.unique(clusters)) == 4
    out = model.loss((x, y, clusters))
    assert torch.isfinite(out.total)
    kinds = {type(c).__name__ for c in model.training_callbacks(_Data(), None)}
    assert "ClusterRefresh" in kinds
    assert ("SeedRepresentatives" in kinds) == (objective != "magnet")


def test_my_loss_batch_accuracy_is_the_nearest_representatives_class():
    metric = {"objective": "my-loss", "embedding_dim": 2, "hidden": [8], "seed": 0,
              "clusters_per_class": 1}  # fmt: skip
    model = build_model(ModelConfig(name="embedder", metric=metric), _Data())
    x = torch.rand(8, 1, 8, 8)
    y = torch.arange(8) % 4
    with torch.no_grad():
        emb = model.embed(x)
        reps = emb[:4].clone()  # representative of class c sits on sample c (class c)
        model.objective.loss.set_representatives(reps)
        expected = float((torch.cdist(emb, reps).argmin(1) == y).double().mean())
    out = model.loss((x, y, y))
    assert float(out.terms["batch_accuracy"]) == pytest.approx(expected)
    assert expected >= 0.5  # the first four samples sit on their own class's representative
