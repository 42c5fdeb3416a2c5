"""A small, real backend for the runner's own tests: a linear autoencoder on scikit-learn's
digits, trained with Adam, checkpointed every epoch, resumable, evaluated with a logistic
probe. It writes the run-directory layout of docs/architecture.md, so the runner's skip,
resume, parallel and failure handling are tested independently of ``reprlab.train``.

``model.loss`` ``explode`` raises during training and ``nan`` diverges; ``train.sleep`` pauses
after each epoch so that a test can kill a study mid-run; ``worker.pid`` names the process
training the run.
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import torch
import yaml
from pydantic import BaseModel, ConfigDict

from reprlab import atomic


class _S(BaseModel):
    model_config = ConfigDict(extra="forbid")


class Data(_S):
    name: str = "digits"
    limit: int = 600


class Model(_S):
    loss: str = "mse"
    latent_dim: int = 4


class Train(_S):
    epochs: int = 3
    lr: float = 0.01
    seed: int = 0
    sleep: float = 0.0


class Config(_S):
    data: Data = Data()
    model: Model = Model()
    train: Train = Train()


SEED_KEY = "train.seed"


def validate(config: dict) -> Config:
    return Config.model_validate(config)


def run_id(config: Config) -> str:
    text = json.dumps(config.model_dump(mode="json"), sort_keys=True)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def has_checkpoint(run_dir: Path) -> bool:
    return (Path(run_dir) / "checkpoints" / "last.pt").is_file()


def _data(config: Config) -> tuple[torch.Tensor, np.ndarray]:
    from sklearn.datasets import load_digits

    digits = load_digits()
    x = torch.tensor(digits.data[: config.data.limit] / 16.0, dtype=torch.float32)
    return x, digits.target[: config.data.limit]


def _model(config: Config) -> torch.nn.Module:
    torch.manual_seed(config.train.seed)
    d = config.model.latent_dim
    return torch.nn.Sequential(torch.nn.Linear(64, d), torch.nn.Linear(d, 64))


def _status(run_dir: Path, status: str, **extra) -> None:
    atomic.write_json(run_dir / "status.json", {"status": status, **extra})


def train(config_dict: dict, run_dir: Path, resume: bool = False) -> None:
    config = validate(config_dict)
    run_dir = Path(run_dir)
    atomic.write_text(run_dir / "config.yaml", yaml.safe_dump(config.model_dump(mode="json")))
    model = _model(config)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.train.lr)
    x, _ = _data(config)
    start, rows = 0, []
    if resume and has_checkpoint(run_dir):
        state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        start, rows = int(state["epoch"]) + 1, list(state["rows"])
    _status(run_dir, "running", epoch=start, resumed_from=start if resume else None)
    (run_dir / "worker.pid").write_text(str(os.getpid()))  # lets a test kill this worker
    for epoch in range(start, config.train.epochs):
        generator = torch.Generator().manual_seed(config.train.seed * 1000 + epoch)
        order = torch.randperm(len(x), generator=generator)
        total = 0.0
        for batch in order.split(100):
            if config.model.loss == "explode":
                raise RuntimeError("exploded on purpose")
            residual = model(x[batch]) - x[batch]
            loss = residual.abs().mean() if config.model.loss == "l1" else residual.pow(2).mean()
            if config.model.loss == "nan":
                loss = loss * float("nan")
            if not torch.isfinite(loss):
                _status(run_dir, "diverged", reason=f"loss is nan at epoch {epoch}", epoch=epoch)
                return
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += float(loss.detach()) * len(batch)
        rows.append([epoch, total / len(x)])
        with open(run_dir / "epochs.log", "a") as log:  # appended: shows repeated epochs
            log.write(f"{epoch}\n")
        atomic.write_text(
            run_dir / "logs" / "metrics.csv",
            "epoch,train_loss\n" + "".join(f"{e},{v:.6f}\n" for e, v in rows),
        )
        atomic.torch_save(
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "epoch": epoch,
                "rows": rows,
            },
            run_dir / "checkpoints" / "last.pt",
        )
        _status(run_dir, "running", epoch=epoch + 1)
        time.sleep(config.train.sleep)
    _status(run_dir, "done", epoch=config.train.epochs)


def evaluate(run_dir: Path, metrics, figures, options) -> None:
    from sklearn.linear_model import LogisticRegression

    run_dir = Path(run_dir)
    config = validate(yaml.safe_load((run_dir / "config.yaml").read_text()))
    model = _model(config)
    state = torch.load(run_dir / "checkpoints" / "last.pt", weights_only=True)
    model.load_state_dict(state["model"])
    x, y = _data(config)
    with torch.no_grad():
        z = model[0](x).numpy()
        mse = float((model(x) - x).pow(2).mean())
    half = len(x) // 2
    probe = LogisticRegression(max_iter=500).fit(z[:half], y[:half])
    accuracy = float(probe.score(z[half:], y[half:]))
    atomic.write_json(
        run_dir / "metrics.json",
        {"recon": {"mse": mse}, "probe": {"logistic": {"accuracy": accuracy}}},
    )
    if "scatter" in figures:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt

        fig, ax = plt.subplots(figsize=(3, 3))
        ax.scatter(z[:, 0], z[:, 1], c=y, s=3, cmap="tab10")
        with atomic.atomic_path(run_dir / "figures" / "scatter.png") as tmp:
            fig.savefig(tmp, format="png")
        plt.close(fig)
