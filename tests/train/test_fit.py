"""The training loop: layout, determinism, exact resume, divergence, schedules, hooks."""

import csv
import json
import math
import os

import pytest
import torch

from reprlab.errors import ConfigError
from reprlab.train import Callback, RunConfig, load_run, prepare, run_id, train_run
from reprlab.train.checkpoint import load_checkpoint


def config(**train) -> RunConfig:
    return RunConfig.model_validate(
        {
            "data": {"name": "digits", "limit": 300, "val_fraction": 0.1},
            "model": {"name": "vae", "hidden": [32], "latent_dim": 4, "loss": "nll-general"},
            "train": {"epochs": 3, "batch_size": 50, "log_every": 2, **train},
        }
    )


def weights(model):
    return {k: v.clone() for k, v in model.state_dict().items()}


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


class StopAt(Callback):
    """Raises at a given step: a real interruption in the middle of an epoch."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, fit, step, output):
        if step == self.step:
            raise RuntimeError("killed")


class Counter(Callback):
    def __init__(self):
        self.calls = {"fit": 0, "epoch_start": 0, "step": 0, "epoch_end": 0}

    def on_fit_start(self, fit):
        self.calls["fit"] += 1

    def on_epoch_start(self, fit, epoch):
        self.calls["epoch_start"] += 1

    def on_step_end(self, fit, step, output):
        self.calls["step"] += 1

    def on_epoch_end(self, fit, epoch, metrics):
        self.calls["epoch_end"] += 1
        assert "val_loss" in metrics

    def state_dict(self):
        return {"step": self.calls["step"]}

    def load_state_dict(self, state):
        self.calls["step"] = state["step"]


def test_run_dir_layout_metrics_and_load_run(tmp_path):
    counter = Counter()
    result = train_run(config(schedule="cosine"), tmp_path, callbacks=[counter], progress=False)
    assert result.status == "done" and result.epochs == 3
    status = json.loads((tmp_path / "status.json").read_text())
    assert (status["status"], status["epoch"], status["step"]) == ("done", 3, result.steps)
    assert status["run_id"] == run_id(config(schedule="cosine"))
    rows = list(csv.DictReader((tmp_path / "logs" / "metrics.csv").open()))
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    for key in ("loss", "kl", "elbo", "val_loss", "val_elbo", "lr", "images_per_s"):
        assert all(math.isfinite(float(r[key])) for r in rows), key
    # cosine stepped once per epoch: lr_e = lr/2 (1 + cos(pi e / E))
    lrs = [float(r["lr"]) for r in rows]
    assert lrs == pytest.approx([1e-3 * 0.5 * (1 + math.cos(math.pi * e / 3)) for e in range(3)])
    steps_per_epoch = math.ceil(300 / 50)
    assert counter.calls == {
        "fit": 1,
        "epoch_start": 3,
        "step": 3 * steps_per_epoch,
        "epoch_end": 3,
    }
    assert (tmp_path / "config.yaml").is_file() and not (tmp_path / "metrics.json").exists()
    loaded = load_run(tmp_path)
    assert not loaded.model.training
    assert loaded.config == config(schedule="cosine")
    assert len(loaded.dataset.train) == 300
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert same_weights(loaded.model.state_dict(), checkpoint["model"])


def test_same_config_and_seed_give_identical_weights(tmp_path):
    a = train_run(config(epochs=1), tmp_path / "a", progress=False)
    b = train_run(config(epochs=1), tmp_path / "b", progress=False)
    c = train_run(config(epochs=1, seed=1), tmp_path / "c", progress=False)
    wa, wb, wc = (load_run(p).model.state_dict() for p in (a.run_dir, b.run_dir, c.run_dir))
    assert same_weights(wa, wb)
    assert not same_weights(wa, wc)


def test_resume_after_interruption_equals_uninterrupted(tmp_path):
    cfg = config(schedule="step", step_size=1, gamma=0.5, optimizer="adamw", weight_decay=0.01)
    cfg.model.name = "dae"  # noise draws from the global RNG: resume must restore it
    cfg.model.noise.hidden_sigma = 0.05
    full = train_run(cfg, tmp_path / "full", progress=False)
    with pytest.raises(RuntimeError, match="killed"):
        train_run(cfg, tmp_path / "cut", callbacks=[StopAt(9)], progress=False)
    status = json.loads((tmp_path / "cut" / "status.json").read_text())
    assert status["status"] == "failed" and "killed" in status["reason"]
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["epoch"] == 1
    resumed = train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    assert resumed.status == "done" and resumed.steps == full.steps
    assert same_weights(
        load_run(tmp_path / "full").model.state_dict(),
        load_run(tmp_path / "cut").model.state_dict(),
    )
    a, b = (
        load_checkpoint(p / "checkpoints" / "last.pt")
        for p in (tmp_path / "full", tmp_path / "cut")
    )
    assert a["optimizer"]["state"][0]["step"] == b["optimizer"]["state"][0]["step"]
    drop = ("seconds", "images_per_s")
    strip = [{k: v for k, v in r.items() if k not in drop} for r in a["history"]]
    assert strip == [{k: v for k, v in r.items() if k not in drop} for r in b["history"]]


class PoisonAt(Callback):
    """Sets a weight to NaN after a step, so the next loss is NaN."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, fit, step, output):
        if step == self.step:
            with torch.no_grad():
                next(fit.model.parameters()).fill_(float("nan"))


@pytest.mark.parametrize("loss", ["mse", "nll-general"])
def test_nan_loss_gives_diverged_and_keeps_the_last_good_checkpoint(tmp_path, loss):
    cfg = config()
    cfg.model.loss = loss
    result = train_run(cfg, tmp_path, callbacks=[PoisonAt(8)], progress=False)
    assert result.status == "diverged"
    status = json.loads((tmp_path / "status.json").read_text())
    assert status["status"] == "diverged" and status["step"] == 9
    assert "non-finite loss" in status["reason"] and "step 9" in status["reason"]
    checkpoint = load_checkpoint(tmp_path / "checkpoints" / "last.pt")
    assert checkpoint["epoch"] == 1  # epoch 2 (steps 7-12) never saved
    assert all(
        torch.isfinite(v).all() for v in checkpoint["model"].values() if v.is_floating_point()
    )


def test_existing_checkpoint_needs_resume_and_done_run_resumes_to_itself(tmp_path):
    train_run(config(epochs=1), tmp_path, progress=False)
    with pytest.raises(ConfigError, match="resume"):
        train_run(config(epochs=1), tmp_path, progress=False)
    again = train_run(config(epochs=1), tmp_path, resume=True, progress=False)
    assert again.status == "done" and again.epochs == 1


def test_run_id_hashes_the_resolved_config():
    assert run_id(config()) == run_id(RunConfig.model_validate(config().model_dump()))
    assert run_id(config()) != run_id(config(seed=1))
    assert run_id(config()) == run_id(config(log_every=7))  # presentation only
    with pytest.raises(Exception, match="unknown model"):
        RunConfig.model_validate({"model": {"name": "nope"}})


class ListLoader:
    """A model-provided loader: fixed batches, with state."""

    def __init__(self, x):
        self.x, self.epochs_seen = x, []

    def epoch(self, e):
        self.epochs_seen.append(e)
        for i in range(0, len(self.x), 40):
            yield (self.x[i : i + 40], None)

    def __len__(self):
        return math.ceil(len(self.x) / 40)

    def state_dict(self):
        return {"seen": list(self.epochs_seen)}

    def load_state_dict(self, state):
        self.epochs_seen = list(state["seen"])


def test_model_hooks_replace_the_loader_and_add_callbacks(tmp_path):
    cfg = config(epochs=2)
    cfg, dataset, model = prepare(cfg)
    loader, counter = ListLoader(dataset.train.images[:120].float() / 255), Counter()
    model.train_loader = lambda ds, c: loader
    model.training_callbacks = lambda ds, c: [counter]
    from reprlab.train import fit

    result = fit(model, dataset, cfg, tmp_path, progress=False)
    assert result.steps == 6 and loader.epochs_seen == [0, 1]
    assert counter.calls["step"] == 6
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["loader"] == {"seen": [0, 1]}


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_adam_is_fused_and_steps_like_torchs_reference_adam(name):
    """fit's Adam is torch's fused kernel (one kernel per step on the CPU and CUDA); its
    steps equal the reference single-tensor implementation to float32 rounding."""
    from reprlab.train import TrainConfig
    from reprlab.train.loop import make_optimizer

    def trained(fused: bool):
        torch.manual_seed(0)
        model = torch.nn.Sequential(torch.nn.Linear(6, 5), torch.nn.ReLU(), torch.nn.Linear(5, 6))
        config = TrainConfig(optimizer=name, lr=1e-2, weight_decay=1e-3)
        optimizer = make_optimizer(model, config)
        if not fused:
            cls = torch.optim.Adam if name == "adam" else torch.optim.AdamW
            optimizer = cls(model.parameters(), lr=1e-2, weight_decay=1e-3, foreach=False)
        assert optimizer.defaults["fused"] is (True if fused else None)
        x = torch.randn(32, 6, generator=torch.Generator().manual_seed(1))
        for _ in range(30):
            optimizer.zero_grad()
            ((model(x) - x) ** 2).mean().backward()
            optimizer.step()
        return torch.cat([p.detach().flatten() for p in model.parameters()])

    torch.testing.assert_close(trained(True), trained(False), rtol=1e-5, atol=1e-6)


def _denormal_survives() -> bool:
    return bool(torch.tensor([1e-323], dtype=torch.float64)[0] != 0)


class SeesSettings(Callback):
    def on_step_end(self, fit, step, output):
        self.flushed = not _denormal_survives()
        self.nvml = os.environ.get("PYTORCH_NVML_BASED_CUDA_CHECK")


def test_training_on_the_cpu_flushes_denormals_and_lifts_the_nvml_check(tmp_path, monkeypatch):
    """Denormal weights and moments slow x86 arithmetic several-fold (seed 004's linear model
    with L1), and Lightning's NVML-based CUDA check reloads NVML at every Adam step: fit
    flushes denormals and lifts the check while it trains, then restores both."""
    monkeypatch.setenv("PYTORCH_NVML_BASED_CUDA_CHECK", "1")
    assert _denormal_survives()
    seen = SeesSettings()
    train_run(config(), tmp_path / "run", callbacks=[seen])
    assert seen.flushed and seen.nvml is None
    assert _denormal_survives() and os.environ["PYTORCH_NVML_BASED_CUDA_CHECK"] == "1"
