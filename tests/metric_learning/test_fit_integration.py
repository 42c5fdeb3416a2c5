"""Metric learning through the real training package: the ``embedder`` family in ``fit``,
checkpoints and exact resume of Magnet's cluster refresh and sampler, ``load_run``, and the
seed 003 accuracies of trained embedders on ``digits``."""

import math

import numpy as np
import pytest
import torch

from reprlab.data import BatchLoader
from reprlab.evaluate.metric_accuracy import metric_accuracies
from reprlab.metric_learning.callbacks import ClusterRefresh, SeedRepresentatives
from reprlab.metric_learning.sampler import MagnetBatchLoader
from reprlab.models.embedder import MetricEmbedder
from reprlab.train import Callback, RunConfig, fit, load_run, prepare, train_run
from reprlab.train.checkpoint import load_checkpoint

ACCURACIES = ("batch", "simple", "magnet", "repmet", "unsupervised")


def config(objective="magnet", limit=None, train=None, **metric) -> RunConfig:
    return RunConfig.model_validate(
        {
            "data": {"name": "digits", "limit": limit},
            "model": {
                "name": "embedder",
                "arch": "mlp",
                "metric": {
                    "objective": objective,
                    "embedding_dim": 16,
                    "hidden": [64],
                    "clusters_per_batch": 6,
                    "samples_per_cluster": 8,
                    "refresh_every": 25,
                    "samples_per_class": 8,
                    **metric,
                },
            },
            "train": {"epochs": 3, "batch_size": 64, "log_every": 10, **(train or {})},
        }
    )


class StepLosses(Callback):
    """Records every step's total loss (to check the logged epoch loss)."""

    def __init__(self):
        self.losses = []

    def on_step_end(self, fit, step, output):
        self.losses.append(float(output.total.detach()))


class StopAt(Callback):
    def __init__(self, step):
        self.step = step

    def on_step_end(self, fit, step, output):
        if step == self.step:
            raise RuntimeError("killed")


@pytest.mark.slow
def test_magnet_trained_through_fit_beats_untrained_and_reports_all_accuracies(tmp_path):
    cfg = config()
    _, dataset, untrained = prepare(cfg)  # the same initial weights as the run's
    before = metric_accuracies(untrained, dataset)
    steps = StepLosses()
    result = train_run(cfg, tmp_path, callbacks=[steps], progress=False)
    assert result.status == "done"
    per_epoch = math.ceil(len(dataset.train) / (6 * 8))  # Magnet batches of M * D examples
    assert result.steps == 3 * per_epoch
    # the logged loss is the mean step loss (not counted twice), next to the batch accuracy
    assert result.history[-1]["loss"] == pytest.approx(np.mean(steps.losses[-per_epoch:]))
    assert 0.5 < result.history[-1]["batch_accuracy"] <= 1.0

    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert checkpoint["model_callbacks"] == [{"steps": result.steps, "refreshes": 3}]
    losses = checkpoint["loader"]["sampler"]["example_losses"]
    assert losses.dtype == torch.float64 and int((~losses.isnan()).sum()) > len(losses) // 2

    run = load_run(tmp_path)
    assert isinstance(run.model, MetricEmbedder) and not run.model.training
    assert int(run.model.objective.sigma2_count) == result.steps
    after = metric_accuracies(run.model, run.dataset)
    for name in ACCURACIES:
        for split in ("train", "test"):
            assert 0.0 <= after[f"{name}_accuracy_{split}"] <= 1.0
    # chance is 0.1; nearest cluster on an untrained MLP's embedding of digits is about 0.83
    assert after["simple_accuracy_test"] > 0.9
    assert after["simple_accuracy_test"] > before["simple_accuracy_test"] + 0.08
    assert after["magnet_accuracy_test"] > before["magnet_accuracy_test"] + 0.08
    assert after["repmet_accuracy_test"] > before["repmet_accuracy_test"] + 0.08


def test_magnet_resume_gives_the_weights_of_an_uninterrupted_run(tmp_path):
    # 400 examples in batches of 4 x 6: 17 steps an epoch; refreshes every 7 steps straddle
    # the interruption at step 26 (epoch 2), which resumes from the checkpoint of step 17
    cfg = config(limit=400, clusters_per_batch=4, samples_per_cluster=6, refresh_every=7)
    full = train_run(cfg, tmp_path / "full", progress=False)
    with pytest.raises(RuntimeError, match="killed"):
        train_run(cfg, tmp_path / "cut", callbacks=[StopAt(26)], progress=False)
    cut = load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")
    assert (cut["epoch"], cut["step"]) == (1, 17)
    assert cut["model_callbacks"] == [{"steps": 17, "refreshes": 2}]
    resumed = train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    assert resumed.status == "done" and resumed.steps == full.steps == 51

    a, b = (
        load_checkpoint(p / "checkpoints" / "last.pt")
        for p in (tmp_path / "full", tmp_path / "cut")
    )
    assert a["model"].keys() == b["model"].keys()
    for key in a["model"]:
        assert torch.equal(a["model"][key], b["model"][key]), key
    assert a["model_callbacks"] == b["model_callbacks"] == [{"steps": 51, "refreshes": 7}]
    sa, sb = a["loader"]["sampler"], b["loader"]["sampler"]
    assert torch.equal(sa["example_losses"].nan_to_num(-1), sb["example_losses"].nan_to_num(-1))
    for key in ("centers", "labels", "assignments", "variance"):
        assert torch.equal(sa["index"][key], sb["index"][key]), key
    drop = ("seconds", "images_per_s")
    strip = [{k: v for k, v in r.items() if k not in drop} for r in a["history"]]
    assert strip == [{k: v for k, v in r.items() if k not in drop} for r in b["history"]]


@pytest.mark.parametrize("objective", ["triplet", "proxy-anchor"])
def test_baselines_train_on_class_balanced_batches_and_beat_untrained(tmp_path, objective):
    cfg = config(objective)
    _, dataset, model = prepare(cfg)
    before = metric_accuracies(model, dataset, splits=("test",))
    loader = model.train_loader(dataset, cfg)
    assert isinstance(loader, BatchLoader) and model.training_callbacks(dataset, cfg) == []
    for _, y in loader.epoch(0):  # 8 classes x 8 examples, every batch
        counts = torch.bincount(y, minlength=10)
        assert len(y) == 64 and sorted(counts.tolist()) == [0, 0] + [8] * 8
    result = fit(model, dataset, cfg, tmp_path, progress=False)
    assert result.status == "done" and result.steps == 3 * (len(dataset.train) // 64)
    after = metric_accuracies(load_run(tmp_path).model, dataset, splits=("test",))
    assert after["simple_accuracy_test"] > before["simple_accuracy_test"] + 0.05
    assert after["simple_accuracy_test"] > 0.85


def test_repmet_seeds_representatives_at_fit_start_and_learns(tmp_path):
    cfg = config("repmet", repmet_version=2, train={"lr": 3e-3})
    _, dataset, untrained = prepare(cfg)
    # RepMet trains on Magnet's cluster batches (seed 003), so the cluster refresh runs too
    seeding, refresh = untrained.training_callbacks(dataset, cfg)
    assert isinstance(seeding, SeedRepresentatives) and isinstance(refresh, ClusterRefresh)
    seeding.on_fit_start(None)  # k-means centres of the untrained embedding
    before = metric_accuracies(untrained, dataset, splits=("test",))
    result = train_run(cfg, tmp_path, progress=False)
    assert result.status == "done"
    callbacks = load_checkpoint(tmp_path / "checkpoints" / "last.pt")["model_callbacks"]
    assert callbacks[0] == {"done": True} and callbacks[1]["steps"] == result.steps
    model = load_run(tmp_path).model
    after = metric_accuracies(model, dataset, splits=("test",))
    # the representatives (not k-means) are the centres of the simple and RepMet accuracies
    assert after["simple_accuracy_test"] > before["simple_accuracy_test"] + 0.05
    assert after["repmet_accuracy_test"] > 0.85


def test_model_callbacks_keep_their_state_when_the_resume_passes_other_callbacks(tmp_path):
    """The caller's callbacks and the model's are checkpointed apart."""
    cfg = config(limit=200, train={"epochs": 2}, refresh_every=3)
    with pytest.raises(RuntimeError, match="killed"):
        train_run(cfg, tmp_path, callbacks=[StepLosses(), StopAt(6)], progress=False)
    _, dataset, model = prepare(cfg)
    loader = model.train_loader(dataset, cfg)
    (refresh,) = model.training_callbacks(dataset, cfg)
    assert isinstance(loader, MagnetBatchLoader) and isinstance(refresh, ClusterRefresh)
    model.train_loader = lambda ds, c: loader
    model.training_callbacks = lambda ds, c: [refresh]
    result = fit(model, dataset, cfg, tmp_path, resume=True, progress=False)
    assert result.status == "done" and result.steps == 10
    assert (refresh.steps, refresh.refreshes) == (10, 3)
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["callbacks"] == []
