"""``fit``: the training loop on Lightning Fabric, over reprlab's in-memory batches.

Per epoch: train on ``loader.epoch(e)``, validate when the data set has a ``val`` split, step
the schedule (once per epoch), call the callbacks, append a row to ``logs/metrics.csv``, and
write ``checkpoints/last.pt`` atomically. Losses stay on the device between checks: every
``train.log_every`` steps (and at the end of each epoch) the pending losses are checked for
NaN or infinity, which ends the run as ``diverged`` at the first bad step, keeping the last
good checkpoint.
"""

import inspect
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

from reprlab.callbacks import Callback
from reprlab.errors import ConfigError
from reprlab.rundir import RunDir
from reprlab.train.checkpoint import (
    check_device,
    load_checkpoint,
    rng_state,
    save_checkpoint,
    set_rng_state,
)
from reprlab.train.config import RunConfig
from reprlab.train.device import (
    compile_loss,
    configure_backends,
    cpu_step_settings,
    use_channels_last,
)
from reprlab.train.loggers import RunLog
from reprlab.train.progress import TrainingProgress
from reprlab.train.tracking import shape_summary


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
    if train.optimizer in ("adam", "adamw"):
        adam = torch.optim.Adam if train.optimizer == "adam" else torch.optim.AdamW
        fused = _fusable(p for group in groups for p in group["params"])
        return adam(
            groups, lr=train.lr, betas=train.betas, weight_decay=train.weight_decay, fused=fused
        )
    return torch.optim.SGD(
        groups, lr=train.lr, momentum=train.momentum, weight_decay=train.weight_decay
    )


def _fusable(params) -> bool | None:
    """True where torch's fused Adam kernel takes every parameter (floating point, on the CPU
    or a CUDA GPU): one kernel per step instead of a dozen small operations per tensor (seed
    004's MLP epoch: 2.68 to 1.64 CPU s, `benchmarks/bench_train_loop.py`). None (torch's
    default) elsewhere."""
    params = list(params)
    ok = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return True if params and ok else None


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


def default_loader(
    split,
    batch_size: int,
    *,
    shuffle: bool,
    seed: int,
    drop_last: bool,
    device,
    channels_last: bool = False,
):
    """A ``BatchLoader`` on ``device``, the split resident there when it fits."""
    from reprlab.data import BatchLoader

    return BatchLoader(
        split, batch_size, shuffle=shuffle, seed=seed, drop_last=drop_last, device=device,
        channels_last=channels_last,
    )  # fmt: skip


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
    run, tc = RunDir(run_dir), config.train
    checkpoint = _checkpoint_to_resume(run, resume)
    fabric = make_fabric(tc)
    if fabric.world_size > 1:
        fabric.launch()
    seed_everything(tc.seed)
    configure_backends(fabric.device)
    channels_last = use_channels_last(model, fabric.device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    parts = _parts(model, dataset, config, callbacks, fabric.device, channels_last)
    val_loader = _val_loader(dataset, tc, fabric.device, channels_last)
    optimizer = make_optimizer(model, tc)
    model, optimizer = fabric.setup(model, optimizer)
    model.mark_forward_method("loss")
    if tc.compile:
        compile_loss(parts.model)
    state = FitState(model, optimizer, make_scheduler(optimizer, tc), fabric, config, run.path)
    if checkpoint is not None:
        _restore(state, parts, checkpoint, run)
    log = RunLog(run, config, fabric.is_global_zero)  # a tracker that cannot start stops here
    shard = _Shard(fabric.global_rank, fabric.world_size) if fabric.world_size > 1 else None
    try:
        with cpu_step_settings(fabric.device):
            _epochs(state, parts, val_loader, log, shard, progress)
    except Diverged as error:
        return _finish(state, log, "diverged", str(error), start_time, step=error.step)
    except BaseException as error:
        log.fail(_reason(error), epoch=state.epoch, step=state.step)
        raise
    return _finish(state, log, "done", "", start_time)


def _epochs(state: FitState, parts, val_loader, log: RunLog, shard, progress) -> None:
    """Train, validate, log and save each remaining epoch."""
    fabric, tc = state.fabric, state.config.train
    if state.epoch >= tc.epochs:
        return
    log.status("running", epoch=state.epoch, step=state.step)
    for cb in parts.callbacks:
        cb.on_fit_start(state)
    total = tc.epochs * len(parts.loader)
    enabled = progress if fabric.is_global_zero else False
    with TrainingProgress(total, state.step, enabled, epochs=tc.epochs) as bar:
        while state.epoch < tc.epochs:
            row = _train_epoch(state, parts.loader, parts.callbacks, bar, shard)
            if val_loader is not None:
                row.update(_validate(state.model, val_loader))
            row = _end_epoch(state, parts.callbacks, row)
            bar.epoch_end(row)
            log.epoch(state.history, row, state.step)
            _save(state, parts)
            log.status("running", epoch=state.epoch, step=state.step)


def _checkpoint_to_resume(run: RunDir, resume: bool) -> dict[str, Any] | None:
    """The run's last checkpoint when resuming; an existing one is an error otherwise."""
    if not run.has_checkpoint():
        return None
    if not resume:
        raise ConfigError(
            f"{str(run.path)!r} already holds a checkpoint; resume it (--resume) or pick "
            "another output directory"
        )
    return load_checkpoint(run.last_checkpoint)


def _val_loader(dataset, tc, device, channels_last: bool = False):
    if "val" not in dataset.splits:
        return None
    return default_loader(
        dataset.val, tc.eval_batch_size, shuffle=False, seed=tc.seed, drop_last=False,
        device=device, channels_last=channels_last,
    )  # fmt: skip


@dataclass
class _Parts:
    """What a checkpoint holds besides the optimiser: the unwrapped model, the training
    loader, and the caller's and the model's callbacks, checkpointed apart so that a resume
    may pass different callbacks of its own (or none) and the model's still get their state."""

    model: Any
    loader: Any
    user_callbacks: list[Callback]
    model_callbacks: list[Callback] = field(default_factory=list)

    @property
    def callbacks(self) -> list[Callback]:
        return self.user_callbacks + self.model_callbacks


def _parts(
    model, dataset, config: RunConfig, callbacks: Sequence[Callback], device, channels_last=False
) -> _Parts:
    """The model's own ``train_loader`` if it has one (given ``device=`` when it takes one),
    else a shuffled ``BatchLoader``; the caller's callbacks, and the model's
    ``training_callbacks``."""
    tc = config.train
    if hasattr(model, "train_loader"):
        takes_device = "device" in inspect.signature(model.train_loader).parameters
        extra = {"device": device} if takes_device else {}
        loader = model.train_loader(dataset, config, **extra)
    else:
        loader = default_loader(
            dataset.train, tc.batch_size, shuffle=True, seed=tc.seed, drop_last=tc.drop_last,
            device=device, channels_last=channels_last,
        )  # fmt: skip
    own = model.training_callbacks(dataset, config) if hasattr(model, "training_callbacks") else []
    return _Parts(model, loader, list(callbacks), list(own))


def _save(state: FitState, parts: _Parts) -> None:
    """Write the run's checkpoint (process 0) and wait for every process."""
    if state.fabric.is_global_zero:
        loader = parts.loader
        save_checkpoint(
            RunDir(state.run_dir).last_checkpoint,
            {
                "model": parts.model.state_dict(),
                "optimizer": state.optimizer.state_dict(),
                "scheduler": state.scheduler.state_dict() if state.scheduler else None,
                "callbacks": [cb.state_dict() for cb in parts.user_callbacks],
                "model_callbacks": [cb.state_dict() for cb in parts.model_callbacks],
                "loader": loader.state_dict() if hasattr(loader, "state_dict") else None,
                "epoch": state.epoch,
                "step": state.step,
                "history": state.history,
                "rng": rng_state(),
                "device": state.fabric.device.type,
            },
        )
    state.fabric.barrier()


def _restore(state: FitState, parts: _Parts, checkpoint: dict[str, Any], run: RunDir) -> None:
    """Put every state ``_save`` wrote back in place (warning when the checkpoint was written
    on another device type)."""
    check_device(checkpoint, state.fabric.device)
    parts.model.load_state_dict(checkpoint["model"])
    state.optimizer.load_state_dict(checkpoint["optimizer"])
    if state.scheduler is not None:
        state.scheduler.load_state_dict(checkpoint["scheduler"])
    for cb, cb_state in zip(parts.user_callbacks, checkpoint["callbacks"]):
        cb.load_state_dict(cb_state)
    saved = checkpoint.get("model_callbacks", [])
    if len(saved) != len(parts.model_callbacks):
        raise ConfigError(
            f"the checkpoint in {str(run.path)!r} holds {len(saved)} model callback "
            f"state(s), the model has {len(parts.model_callbacks)}; resume with the saved config"
        )
    for cb, cb_state in zip(parts.model_callbacks, saved):
        cb.load_state_dict(cb_state)
    if checkpoint.get("loader") and hasattr(parts.loader, "load_state_dict"):
        parts.loader.load_state_dict(checkpoint["loader"])
    state.epoch, state.step = checkpoint["epoch"], checkpoint["step"]
    state.history = list(checkpoint["history"])
    set_rng_state(checkpoint["rng"])


def _validate(model, val_loader) -> dict[str, float]:
    """``validate`` in eval mode, its keys prefixed ``val_``."""
    model.eval()
    row = {f"val_{k}": v for k, v in validate(model, val_loader).items()}
    model.train()
    return row


def _end_epoch(state: FitState, callbacks: list[Callback], row: dict) -> dict:
    """Record the learning rate, step the schedule, count the epoch, append its row to the
    history and call ``on_epoch_end``; returns the row."""
    row["lr"] = state.optimizer.param_groups[0]["lr"]
    row.update(shape_summary(state.model))
    if state.scheduler is not None:
        state.scheduler.step()
    state.epoch += 1
    row = {"epoch": state.epoch, "step": state.step, **row}
    state.history.append(row)
    for cb in callbacks:
        cb.on_epoch_end(state, state.epoch - 1, row)
    return row


def _reason(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    return f"{type(error).__name__}: {' '.join(str(error).split())}"[:500]


def _train_epoch(state: FitState, loader, callbacks, bar, shard) -> dict:
    """One epoch of optimiser steps; returns the mean loss and terms, and the speed."""
    model, optimizer, fabric = state.model, state.optimizer, state.fabric
    tc = state.config.train
    on_cpu = fabric.device.type == "cpu"
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
        bar.step(state.step, state.epoch + 1)
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
    log: RunLog,
    status: str,
    reason: str,
    start_time: float,
    step: int | None = None,
) -> FitResult:
    seconds = time.perf_counter() - start_time
    step = state.step if step is None else step
    metrics = dict(state.history[-1]) if state.history else {}
    log.finish(status, reason, epoch=state.epoch, step=step, seconds=seconds, metrics=metrics)
    return FitResult(
        status, state.run_dir, state.epoch, step, metrics, state.history, seconds, reason
    )
