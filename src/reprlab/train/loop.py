"""``fit``: the training loop on Lightning Fabric, over reprlab's in-memory batches.

Per epoch: train on ``loader.epoch(e)``, validate when the data set has a ``val`` split, step
the schedule (once per epoch), call the callbacks, append a row to ``logs/metrics.csv``, and
write ``checkpoints/last.pt`` atomically. Losses stay on the device between checks: every
``train.log_every`` steps (and at the end of each epoch) the pending losses are checked for
NaN or infinity, which ends the run as ``diverged`` at the first bad step, keeping the last
good checkpoint.
"""

import math
import random
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor

from reprlab import atomic
from reprlab.callbacks import Callback
from reprlab.errors import ConfigError
from reprlab.train.checkpoint import (
    LAST,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from reprlab.train.config import RunConfig, dump_config, run_id
from reprlab.train.loggers import ExternalLoggers, write_csv
from reprlab.train.progress import TrainingProgress
from reprlab.train.status import write_status


@dataclass
class FitResult:
    """How the run ended: ``status`` is ``done`` or ``diverged`` (with ``reason``)."""

    status: str
    run_dir: Path
    epochs: int
    steps: int
    metrics: dict[str, float]
    history: list[dict[str, Any]]
    seconds: float
    reason: str = ""


@dataclass
class FitState:
    """What callbacks see: the live objects and counters of the running fit."""

    model: Any
    optimizer: torch.optim.Optimizer
    scheduler: Any
    fabric: Any
    config: RunConfig
    run_dir: Path
    epoch: int = 0
    step: int = 0
    history: list[dict[str, Any]] = field(default_factory=list)


class Diverged(Exception):
    def __init__(self, step: int, value: float) -> None:
        super().__init__(f"non-finite loss {value} at step {step}")
        self.step = step


def seed_everything(seed: int) -> None:
    """Seed Python, NumPy and torch (every device)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (libraries draw from the global RNG)
    torch.manual_seed(seed)


def make_fabric(train):
    from lightning_fabric import Fabric

    return Fabric(
        accelerator=train.accelerator,
        devices=train.devices,
        strategy=train.strategy,
        num_nodes=train.num_nodes,
        precision=train.precision,
    )


def make_optimizer(model: torch.nn.Module, train) -> torch.optim.Optimizer:
    """Adam, AdamW or SGD; weight decay spares the reconstruction objective's own parameters
    (the adaptive alpha and scale), which are distribution parameters, not weights. A
    sub-module with an ``lr_scale`` attribute (proxy-anchor's proxies) gets its own group at
    ``lr_scale`` times the learning rate."""
    scaled = {}
    for prefix, module in model.named_modules():
        if getattr(module, "lr_scale", None) not in (None, 1.0):
            for name, _ in module.named_parameters(prefix=prefix):
                scaled[name] = float(module.lr_scale)
    decayed, spared, by_scale = [], [], {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        if name in scaled:
            by_scale.setdefault(scaled[name], []).append(p)
        else:
            (spared if name.startswith("reconstruction.") else decayed).append(p)
    groups = [{"params": decayed}]
    if spared:
        groups.append({"params": spared, "weight_decay": 0.0})
    for scale, params in by_scale.items():
        groups.append({"params": params, "lr": train.lr * scale})
    if train.optimizer == "adam":
        return torch.optim.Adam(
            groups, lr=train.lr, betas=train.betas, weight_decay=train.weight_decay
        )
    if train.optimizer == "adamw":
        return torch.optim.AdamW(
            groups, lr=train.lr, betas=train.betas, weight_decay=train.weight_decay
        )
    return torch.optim.SGD(
        groups, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay
    )


def anneal_factor(epoch: int, epochs: int, start: float) -> float:
    """The mean over epoch ``epoch`` of f(p) = min(1, (1 - p) / (1 - start)), p the fraction
    of training done: the learning rate held, then falling linearly to 0 from ``start``
    (Barron 2019's VAE: from 80 %), averaged per epoch because schedules step once per epoch."""
    lo, hi = epoch / epochs, (epoch + 1) / epochs
    flat = max(0.0, min(hi, start) - lo)
    s = max(lo, start)
    ramp = ((1 - s) ** 2 - (1 - hi) ** 2) / (2 * (1 - start)) if hi > s else 0.0
    return (flat + ramp) / (hi - lo)


def make_scheduler(optimizer: torch.optim.Optimizer, train):
    """Cosine annealing over ``epochs``, step decay, or ``anneal`` (`anneal_factor`), all
    stepped once per epoch."""
    if train.schedule == "cosine":
        return torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, train.epochs, train.min_lr)
    if train.schedule == "step":
        return torch.optim.lr_scheduler.StepLR(optimizer, train.step_size, train.gamma)
    if train.schedule == "anneal":
        epochs, start = train.epochs, train.anneal_from
        return torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda e: anneal_factor(min(e, epochs - 1), epochs, start)
        )
    return None


def default_loader(split, batch_size: int, *, shuffle: bool, seed: int, drop_last: bool, device):
    from reprlab.data import BatchLoader

    return BatchLoader(
        split, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last, device=device
    )


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def _check_window(window: list[Tensor], first_step: int) -> Tensor:
    """Stack the pending losses; raise ``Diverged`` at the first non-finite one."""
    losses = torch.stack(window)
    if not bool(torch.isfinite(losses).all()):
        bad = int((~torch.isfinite(losses)).nonzero()[0])
        raise Diverged(first_step + bad, float(losses[bad]))
    return losses


class _Shard:
    """Each process of a multi-process strategy takes its rows of every global batch."""

    def __init__(self, rank: int, world: int) -> None:
        self.rank, self.world = rank, world

    def __call__(self, batch):
        if isinstance(batch, (tuple, list)):
            return type(batch)(self(b) for b in batch)
        return batch[self.rank :: self.world] if isinstance(batch, Tensor) else batch


@torch.no_grad()
def validate(model, loader) -> dict[str, float]:
    """The mean loss and terms over ``loader``'s first epoch, weighted by batch size."""
    sums: dict[str, Tensor] = {}
    count = 0
    for batch in loader.epoch(0):
        out = model.loss(batch)
        n = len(batch[0]) if isinstance(batch, (tuple, list)) else len(batch)
        for key, value in {"loss": out.total, **out.terms}.items():
            sums[key] = sums.get(key, 0) + value.detach().float() * n
        count += n
    return {k: float(v) / max(count, 1) for k, v in sums.items()}


def fit(
    model,
    dataset,
    config: RunConfig,
    run_dir: str | Path,
    callbacks: Sequence[Callback] = (),
    *,
    resume: bool = False,
    progress: bool | None = None,
) -> FitResult:
    """Train ``model`` on ``dataset.train`` as ``config.train`` says, writing ``run_dir``.

    ``resume`` continues from ``run_dir/checkpoints/last.pt`` when it exists and gives the
    same weights as an uninterrupted run; without it, an existing checkpoint is an error.
    The model's optional ``train_loader`` and ``training_callbacks`` hooks replace the default
    shuffled ``BatchLoader`` and add callbacks. Returns a ``FitResult``; a NaN or infinite
    loss gives status ``diverged``; any exception marks the run ``failed`` and propagates.
    """
    start_time = time.perf_counter()
    run_dir = Path(run_dir)
    tc = config.train
    last = run_dir / "checkpoints" / LAST
    checkpoint = load_checkpoint(last) if resume and last.is_file() else None
    if checkpoint is None and last.is_file():
        raise ConfigError(
            f"{str(run_dir)!r} already holds a checkpoint; resume it (--resume) or pick "
            "another output directory"
        )
    fabric = make_fabric(tc)
    if fabric.world_size > 1:
        fabric.launch()
    seed_everything(tc.seed)

    raw_model = model
    loader = (
        model.train_loader(dataset, config)
        if hasattr(model, "train_loader")
        else default_loader(
            dataset.train,
            tc.batch_size,
            shuffle=True,
            seed=tc.seed,
            drop_last=tc.drop_last,
            device=fabric.device,
        )
    )
    # the caller's callbacks and the model's are checkpointed apart, so a resume may pass
    # different callbacks of its own (or none) and the model's still get their state back
    user_callbacks = list(callbacks)
    model_callbacks = (
        list(model.training_callbacks(dataset, config))
        if hasattr(model, "training_callbacks")
        else []
    )
    callbacks = user_callbacks + model_callbacks
    val_loader = None
    if "val" in dataset.splits:
        val_loader = default_loader(
            dataset.val,
            tc.eval_batch_size,
            shuffle=False,
            seed=tc.seed,
            drop_last=False,
            device=fabric.device,
        )

    optimizer = make_optimizer(model, tc)
    model, optimizer = fabric.setup(model, optimizer)
    model.mark_forward_method("loss")
    scheduler = make_scheduler(optimizer, tc)
    state = FitState(model, optimizer, scheduler, fabric, config, run_dir)
    on_cpu = fabric.device.type == "cpu"
    shard = _Shard(fabric.global_rank, fabric.world_size) if fabric.world_size > 1 else None

    if checkpoint is not None:
        raw_model.load_state_dict(checkpoint["model"])
        optimizer.load_state_dict(checkpoint["optimizer"])
        if scheduler is not None:
            scheduler.load_state_dict(checkpoint["scheduler"])
        for cb, cb_state in zip(user_callbacks, checkpoint["callbacks"]):
            cb.load_state_dict(cb_state)
        saved = checkpoint.get("model_callbacks", [])
        if len(saved) != len(model_callbacks):
            raise ConfigError(
                f"the checkpoint in {str(run_dir)!r} holds {len(saved)} model callback "
                f"state(s), the model has {len(model_callbacks)}; resume with the saved config"
            )
        for cb, cb_state in zip(model_callbacks, saved):
            cb.load_state_dict(cb_state)
        if checkpoint.get("loader") and hasattr(loader, "load_state_dict"):
            loader.load_state_dict(checkpoint["loader"])
        state.epoch, state.step = checkpoint["epoch"], checkpoint["step"]
        state.history = list(checkpoint["history"])
        set_rng_state(checkpoint["rng"])

    is_zero = fabric.is_global_zero
    external = (  # opened first: a tracker that cannot start leaves no run behind
        ExternalLoggers(tc.loggers, run_dir, run_dir.name, _flatten(config.model_dump(mode="json")))
        if is_zero
        else None
    )
    if is_zero:
        atomic.write_text(run_dir / "config.yaml", dump_config(config))
    status = {"run_id": run_id(config), "epochs": tc.epochs}

    def save() -> None:
        if is_zero:
            save_checkpoint(
                last,
                {
                    "model": raw_model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict() if scheduler is not None else None,
                    "callbacks": [cb.state_dict() for cb in user_callbacks],
                    "model_callbacks": [cb.state_dict() for cb in model_callbacks],
                    "loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
                    "epoch": state.epoch,
                    "step": state.step,
                    "history": state.history,
                    "rng": rng_state(),
                },
            )
        fabric.barrier()

    steps_per_epoch = len(loader)
    try:
        if state.epoch >= tc.epochs:
            return _finish(state, "done", "", start_time, status, external)
        if is_zero:
            write_status(run_dir, "running", epoch=state.epoch, step=state.step, **status)
        for cb in callbacks:
            cb.on_fit_start(state)
        bar_on = progress if progress is not None else None
        with TrainingProgress(
            tc.epochs * steps_per_epoch, state.step, enabled=bar_on if is_zero else False
        ) as bar:
            while state.epoch < tc.epochs:
                row = _train_epoch(state, loader, callbacks, bar, on_cpu, shard)
                if val_loader is not None:
                    model.eval()
                    row.update({f"val_{k}": v for k, v in validate(model, val_loader).items()})
                    model.train()
                row["lr"] = optimizer.param_groups[0]["lr"]
                if scheduler is not None:
                    scheduler.step()
                state.epoch += 1
                row = {"epoch": state.epoch, "step": state.step, **row}
                state.history.append(row)
                for cb in callbacks:
                    cb.on_epoch_end(state, state.epoch - 1, row)
                if is_zero:
                    write_csv(run_dir / "logs" / "metrics.csv", state.history)
                    external.log(row, state.step)
                save()
                if is_zero:
                    write_status(run_dir, "running", epoch=state.epoch, step=state.step, **status)
    except Diverged as error:
        return _finish(state, "diverged", str(error), start_time, status, external, step=error.step)
    except BaseException as error:
        reason = (
            "interrupted"
            if isinstance(error, KeyboardInterrupt)
            else (f"{type(error).__name__}: {' '.join(str(error).split())}"[:500])
        )
        if is_zero:
            write_status(
                run_dir, "failed", reason=reason, epoch=state.epoch, step=state.step, **status
            )
        if external is not None:
            external.close()
        raise
    return _finish(state, "done", "", start_time, status, external)


def _train_epoch(state: FitState, loader, callbacks, bar, on_cpu: bool, shard) -> dict:
    """One epoch of optimiser steps; returns the mean loss and terms, and the speed."""
    model, optimizer, fabric = state.model, state.optimizer, state.fabric
    tc = state.config.train
    model.train()
    for cb in callbacks:
        cb.on_epoch_start(state, state.epoch)
    sums: dict[str, Tensor] = {}
    window: list[Tensor] = []
    window_start = state.step + 1
    images, batches, tick, tick_images = 0, 0, time.perf_counter(), 0
    epoch_start = tick
    for batch in loader.epoch(state.epoch):
        if shard is not None:
            batch = shard(batch)
        if not on_cpu:
            batch = fabric.to_device(batch)
        try:
            out = model.loss(batch)
        except Exception:  # e.g. a NaN parameter rejected by a loss: report the first NaN
            if window:
                _check_window(window, window_start)
            raise
        fabric.backward(out.total)
        if tc.grad_clip is not None:
            fabric.clip_gradients(model, optimizer, max_norm=tc.grad_clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        state.step += 1
        batches += 1
        n = len(batch[0]) if isinstance(batch, (tuple, list)) else len(batch)
        images += n
        total = out.total.detach()
        window.append(total)
        sums["loss"] = sums["loss"] + total if "loss" in sums else total
        for key, value in out.terms.items():
            sums[key] = sums[key] + value if key in sums else value
        for cb in callbacks:
            cb.on_step_end(state, state.step, out)
        if len(window) >= tc.log_every:
            losses = _check_window(window, window_start)
            now = time.perf_counter()
            bar.update(
                state.step,
                state.epoch + 1,
                float(losses.mean()),
                (images - tick_images) / max(now - tick, 1e-9),
            )
            window, window_start, tick, tick_images = [], state.step + 1, now, images
    if window:
        _check_window(window, window_start)
    seconds = time.perf_counter() - epoch_start
    row = {k: float(v) / max(batches, 1) for k, v in sums.items()}
    row["seconds"] = seconds
    row["images_per_s"] = images / max(seconds, 1e-9)
    if not math.isfinite(row["loss"]):  # a term accumulated a NaN
        raise Diverged(state.step, row["loss"])
    return row


def _finish(
    state: FitState,
    status: str,
    reason: str,
    start_time: float,
    info: dict,
    external,
    step: int | None = None,
) -> FitResult:
    seconds = time.perf_counter() - start_time
    step = state.step if step is None else step
    metrics = dict(state.history[-1]) if state.history else {}
    if state.fabric.is_global_zero:
        write_status(state.run_dir, status, reason=reason, epoch=state.epoch, step=step, **info)
        atomic.write_json(
            state.run_dir / "logs" / "summary.json",
            {
                "status": status,
                "reason": reason,
                "epochs": state.epoch,
                "steps": step,
                "seconds": seconds,
                "metrics": metrics,
            },
        )
    if external is not None:
        external.close()
    return FitResult(
        status, state.run_dir, state.epoch, step, metrics, state.history, seconds, reason
    )
