"""Per-cell tuning on the validation split with Optuna (Akiba et al., KDD 2019).

``reprlab run STUDY --tune`` runs one Optuna study per cell that the study's ``tune:`` block
applies to: a TPE sampler (Bergstra et al., NeurIPS 2011) reseeded per trial from the
block's ``seed`` and the trial's number (so a resumed or parallel job never replays another's
draws), and a median pruner fed the validation metric after each epoch by a training
callback. Trials live in ``STUDY_DIR/tuning/optuna.db`` (Optuna's RDB storage on SQLite with
heartbeats): a killed tuning resumes where it stopped, without repeating finished trials, and
jobs tuning one cell (``--jobs``, ``--executor ray``) share its trials. Every trial trains on
train and is scored on the held-out ``val`` split; test is never loaded into a score. The
best values per cell go to ``tuning/chosen.json``; the study's seeds then train at them and
are evaluated on test once.

Without ``--tune``, a study's runs use the values its ``tune.chosen`` ships (found by an
earlier ``--tune``); ``tuning/applied.json`` records which values each cell ran with and how
they were chosen, for the report.
"""

from __future__ import annotations

import copy
import fnmatch
import hashlib
import json
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from reprlab import atomic
from reprlab.callbacks import Callback
from reprlab.errors import ConfigError, ReprlabError
from reprlab.study.executors import run_tasks
from reprlab.study.expand import Cell, PlannedRun, cells_of, expand
from reprlab.study.spec import ResolvedStudy, SearchParam, TuneSettings, apply_overrides

TUNING = "tuning"
STORE = "optuna.db"
CHOSEN = "chosen.json"
APPLIED = "applied.json"
#: seconds between a trial's heartbeats, and after which a silent trial counts as killed
HEARTBEAT = (5, 20)


def cell_space(tune: TuneSettings, cell: Cell) -> dict[str, SearchParam]:
    """The tuned keys that apply to ``cell`` (their ``cells`` patterns match its key)."""
    return {
        path: p
        for path, p in tune.space.items()
        if any(fnmatch.fnmatchcase(cell.key, pattern) for pattern in p.cells)
    }


def suggest(trial: Any, space: dict[str, SearchParam]) -> dict[str, Any]:
    """One value per key of ``space`` from an Optuna ``trial``, keyed by config path."""
    values: dict[str, Any] = {}
    for path, p in space.items():
        if p.kind == "choice":
            values[path] = trial.suggest_categorical(path, p.values)
        elif p.kind == "int":
            values[path] = trial.suggest_int(path, int(p.low), int(p.high), log=p.log)
        else:
            values[path] = trial.suggest_float(path, p.low, p.high, log=p.kind == "log-uniform")
    return values


def storage(path: str | Path, heartbeat: tuple[int, int] = HEARTBEAT):
    """Optuna's RDB storage on the SQLite file ``path``, with heartbeats so that a trial of a
    killed process is marked failed ``heartbeat[1]`` seconds after its last beat."""
    import optuna

    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        return optuna.storages.RDBStorage(
            f"sqlite:///{Path(path).resolve()}",
            engine_kwargs={"connect_args": {"timeout": 60}},
            heartbeat_interval=heartbeat[0],
            grace_period=heartbeat[1],
        )


def _sampler(seed: int, number: int, startup: int):
    import optuna

    return optuna.samplers.TPESampler(seed=seed * 1_000_003 + number, n_startup_trials=startup)


def optimize(
    objective: Callable[[dict[str, Any], Any], float],
    space: dict[str, SearchParam],
    *,
    direction: str,
    trials: int,
    store: Any,
    name: str,
    seed: int = 0,
    startup_trials: int = 5,
    prune: bool = True,
    poll: float = 1.0,
):
    """Run ``objective(values, trial)`` until ``store`` holds ``trials`` finished (complete or
    pruned) trials of the Optuna study ``name``; returns that study.

    ``direction`` is ``higher`` or ``lower``. Trials another job is running count towards the
    budget (this job waits for them); trials of a killed job are failed by their heartbeat
    and replaced. Each trial's TPE sampler is seeded by ``seed`` and the trial's number.
    """
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    pruner = (
        optuna.pruners.MedianPruner(n_startup_trials=max(1, startup_trials))
        if prune
        else optuna.pruners.NopPruner()
    )
    study = optuna.create_study(
        storage=store,
        study_name=name,
        direction="maximize" if direction == "higher" else "minimize",
        pruner=pruner,
        load_if_exists=True,
    )

    def run_trial(trial) -> float:
        trial.study.sampler = _sampler(seed, trial.number, startup_trials)
        return objective(suggest(trial, space), trial)

    finished = (optuna.trial.TrialState.COMPLETE, optuna.trial.TrialState.PRUNED)
    while True:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            optuna.storages.fail_stale_trials(study)
        states = [t.state for t in study.get_trials(deepcopy=False)]
        done = sum(s in finished for s in states)
        running = states.count(optuna.trial.TrialState.RUNNING)
        if done >= trials:
            return study
        if done + running >= trials:
            time.sleep(poll)
            continue
        study.optimize(run_trial, n_trials=1)


# ------------------------------------------------------------------ trials of a study cell


def measure(model: Any, dataset: Any, metric: str, options: dict, row: dict) -> float:
    """The objective on the validation split: a training-log column (``val_loss``) from the
    epoch's ``row``, or an evaluation metric computed with ``split: val``."""
    if metric.startswith("val_"):
        if metric not in row:
            raise ConfigError(
                f"tune objective {metric!r} is not a column of the training log; "
                f"valid: {', '.join(k for k in row if k.startswith('val_'))}"
            )
        return float(row[metric])
    import torch

    from reprlab.evaluate import evaluate_loaded
    from reprlab.study.layout import flatten_metrics

    group = metric.split("/")[0]
    inner = getattr(model, "module", model)
    was_training = inner.training
    with torch.random.fork_rng(devices=[]):
        inner.eval()
        flat = flatten_metrics(
            evaluate_loaded(inner, dataset, [group], {**options, "split": "val"}, progress=False)
        )
    inner.train(was_training)
    if metric not in flat:
        raise ConfigError(
            f"tune objective {metric!r} is not a metric of {group!r}; valid: {', '.join(flat)}"
        )
    return flat[metric]


class ReportToTrial(Callback):
    """After every ``every``-th epoch: the validation objective, reported to the Optuna trial;
    a trial the pruner stops raises ``optuna.TrialPruned``."""

    def __init__(self, trial: Any, metric: str, dataset: Any, options: dict, every: int = 1):
        self.trial, self.metric, self.dataset = trial, metric, dataset
        self.options, self.every = options, every

    def on_epoch_end(self, fit, epoch: int, metrics: dict[str, float]) -> None:
        import optuna

        if (epoch + 1) % self.every:
            return
        value = measure(fit.model, self.dataset, self.metric, self.options, metrics)
        self.trial.report(value, epoch)
        if self.trial.should_prune():
            raise optuna.TrialPruned(f"pruned after epoch {epoch + 1} at {value:.4g}")


def score_config(
    config: dict[str, Any],
    metric: str,
    options: dict,
    run_dir: Path,
    trial: Any = None,
    every: int = 1,
) -> float:
    """Train ``config`` into ``run_dir`` and return ``metric`` on its validation split; with a
    ``trial``, report the metric per epoch to it (pruning). A diverged run is pruned."""
    import optuna

    from reprlab.train import fit, prepare

    config_, dataset, model = prepare(config)
    if "val" not in dataset.splits:
        raise ConfigError(
            "tuning needs a validation split; set the study's validation.fraction above 0"
        )
    callbacks = [ReportToTrial(trial, metric, dataset, options, every)] if trial else []
    result = fit(model, dataset, config_, run_dir, callbacks, progress=False)
    if result.status != "done":
        raise optuna.TrialPruned(f"diverged: {result.reason}")
    value = measure(model, dataset, metric, options, result.history[-1])
    if not math.isfinite(value):
        raise optuna.TrialPruned(f"{metric} is {value}")
    return value


def study_name(cell: Cell, config: dict[str, Any], space: dict[str, SearchParam], tune) -> str:
    """The cell key and a hash of what the trials depend on: its config, space and objective."""
    what = {
        "config": config,
        "space": {k: v.model_dump(mode="json", exclude={"cells"}) for k, v in space.items()},
        "objective": tune.objective.model_dump(mode="json"),
        "seed": tune.seed,
    }
    digest = hashlib.sha256(json.dumps(what, sort_keys=True).encode()).hexdigest()[:10]
    return f"{cell.key}@{digest}"


def tune_tasks(study: ResolvedStudy, out: Path, jobs: int = 1) -> list[dict[str, Any]]:
    """One task per (tuned cell, job): each tunes its cell until the budget is reached."""
    tune = study.spec.tune
    if tune is None:
        raise ConfigError(f"study {study.spec.name!r} has no 'tune:' block; add one or drop --tune")
    planned = plan(study, {})
    tasks = []
    for cell in cells_of(planned):
        space = cell_space(tune, cell)
        if not space:
            continue
        run = next(r for r in planned if cell in r.cells and r.seed == study.seeds[0])
        config = apply_overrides(run.config_dict(), {"train.seed": tune.seed})
        name = study_name(cell, config, space, tune)
        for job in range(jobs):
            tasks.append(
                {
                    "cell": cell.key,
                    "name": name,
                    "job": job,
                    "config": config,
                    "space": {k: v.model_dump(mode="json") for k, v in space.items()},
                    "tune": tune.model_dump(mode="json"),
                    "options": dict(study.evaluate.options),
                    "store": str(out / TUNING / STORE),
                    "trials_dir": str(out / TUNING / "trials"),
                }
            )
    return tasks


def tune_cell(task: dict[str, Any]) -> dict[str, Any]:
    """Run one task of ``tune_tasks`` (in any process); returns its cell's best trial."""
    import shutil

    from reprlab.study.worker import set_threads

    if task.get("threads"):
        set_threads(int(task["threads"]))
    tune = TuneSettings.model_validate(task["tune"])
    space = {k: SearchParam.model_validate(v) for k, v in task["space"].items()}

    def objective(values: dict[str, Any], trial: Any) -> float:
        config = apply_overrides(copy.deepcopy(task["config"]), values)
        run_dir = Path(task["trials_dir"]) / f"{task['name'].replace('/', '_')}-{trial.number}"
        shutil.rmtree(run_dir, ignore_errors=True)
        try:
            return score_config(
                config,
                tune.objective.metric,
                task["options"],
                run_dir,
                trial if tune.prune else None,
                tune.report_every,
            )
        finally:
            shutil.rmtree(run_dir, ignore_errors=True)

    study = optimize(
        objective,
        space,
        direction=tune.objective.direction,
        trials=tune.trials,
        store=storage(task["store"]),
        name=task["name"],
        seed=tune.seed,
        startup_trials=tune.startup_trials,
        prune=tune.prune,
    )
    return {"cell": task["cell"], "name": task["name"], **summary(study)}


def summary(study: Any) -> dict[str, Any]:
    """Best values, best value and trial counts of an Optuna study."""
    import optuna

    states = [t.state for t in study.get_trials(deepcopy=False)]
    return {
        "values": dict(study.best_trial.params),
        "value": study.best_value,
        "best_trial": study.best_trial.number,
        "complete": states.count(optuna.trial.TrialState.COMPLETE),
        "pruned": states.count(optuna.trial.TrialState.PRUNED),
        "failed": states.count(optuna.trial.TrialState.FAIL),
    }


def _worker_died(task: dict[str, Any], why: BaseException | str) -> dict[str, Any]:
    """A tuning worker that died: its finished trials are in the store, so say how to go on."""
    raise ReprlabError(
        f"a tuning worker died ({why}); run the same command again: finished trials are kept"
    )


def _run(
    tasks: list[dict[str, Any]],
    jobs: int,
    executor: str,
    address: str | None,
    dashboard: bool = False,
):
    """Outcomes of ``tune_cell`` over ``tasks``: here, in ``jobs`` processes, or on Ray (the
    study folder, and so the SQLite store, must then lie on a file system every node
    shares)."""
    yield from run_tasks(
        tasks, executor, jobs, address, dashboard, work=tune_cell, crashed=_worker_died
    )


def tune_study(
    study: ResolvedStudy,
    out: str | Path,
    *,
    jobs: int = 1,
    executor: str = "local",
    address: str | None = None,
    console: Any = None,
    dashboard: bool = False,
) -> dict[str, dict[str, Any]]:
    """Tune every cell of ``study`` its ``tune:`` block applies to; write
    ``tuning/chosen.json`` and an optimisation-history figure per cell; return
    ``{cell key: {"values": {path: value}, ...}}``. ``dashboard``: as for ``run_study``."""
    out = Path(out).resolve()
    tasks = tune_tasks(study, out, jobs)
    tune = study.spec.tune
    say = console.print if console is not None else print
    say(
        f"tuning {len({t['cell'] for t in tasks})} cells of {study.spec.name}: "
        f"{tune.trials} trials each on the validation split, objective "
        f"{tune.objective.metric} ({tune.objective.direction}); store: {out / TUNING / STORE}"
    )
    chosen: dict[str, dict[str, Any]] = {}
    for outcome in _run(tasks, jobs, executor, address, dashboard):
        if outcome["cell"] in chosen:
            continue
        chosen[outcome["cell"]] = outcome
        shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in outcome["values"].items())  # fmt: skip
        say(
            f"tuned    {outcome['cell']}  {shown}  {tune.objective.metric}="
            f"{outcome['value']:.4g} (val)  {outcome['complete']} complete, "
            f"{outcome['pruned']} pruned"
        )
    for key, entry in chosen.items():
        entry["figure"] = history_figure(out, entry["name"])
        entry["space"] = next(t["space"] for t in tasks if t["cell"] == key)
        entry["objective"] = tune.objective.model_dump(mode="json")
        entry["trials"] = tune.trials
    atomic.write_json(out / TUNING / CHOSEN, chosen)
    return chosen


def history_figure(out: Path, name: str) -> str:
    """Optuna's optimisation-history plot of study ``name``, saved under ``tuning/``; returns
    its path relative to ``out``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import optuna
    from optuna.visualization.matplotlib import plot_optimization_history

    study = optuna.load_study(study_name=name, storage=storage(out / TUNING / STORE))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ax = plot_optimization_history(study)
    ax.set_title(name.split("@")[0])
    relative = f"{TUNING}/{name.split('@')[0].replace('/', '_')}.png"
    ax.figure.savefig(out / relative, dpi=90, bbox_inches="tight")
    plt.close(ax.figure)
    return relative


# ------------------------------------------------------------------ runs at chosen values


def plan(
    study: ResolvedStudy,
    chosen: dict[str, dict[str, Any]] | None = None,
    make_config: Callable | None = None,
    make_id: Callable | None = None,
    seed_key: str | None = None,
) -> list[PlannedRun]:
    """The runs of ``study``: ``expand(study)`` with the study's validation split held out of
    train (reprlab's own runs, i.e. the default ``make_config``; ``data.val_fraction`` and
    ``data.seed`` set in the base config win) and each cell's chosen values applied
    (``chosen[cell][path]``; by default the values the study's ``tune.chosen`` ships). A run
    shared by cells whose chosen values differ becomes one run per distinct config."""
    from reprlab.study import backend

    if make_config is None or make_config is backend.validate:
        base = copy.deepcopy(study.base)
        study.spec.validation.apply(base)
        study = study.model_copy(update={"base": base})
    make_config, make_id = make_config or backend.validate, make_id or backend.run_id
    planned = expand(study, make_config, make_id, seed_key)
    if chosen is None:
        chosen = study.spec.tune.chosen if study.spec.tune else {}
    if not chosen:
        return planned
    runs: dict[str, PlannedRun] = {}
    for run in planned:
        for cell in run.cells:
            values = chosen.get(cell.key)
            if not values:
                config = run.config
            else:
                config = make_config(apply_overrides(run.config_dict(), values))
            rid = make_id(config) if values else run.run_id
            merged = runs.setdefault(rid, PlannedRun(rid, config, run.seed))
            if cell not in merged.cells:
                merged.cells.append(cell)
    return list(runs.values())


def write_applied(
    out: str | Path,
    study: ResolvedStudy,
    cells: list[Cell],
    chosen: dict[str, dict[str, Any]] | None,
    tuned: bool,
) -> None:
    """``tuning/applied.json``: per tunable cell, the values its runs used and whether they
    were tuned in this folder or shipped with the study (``tune.chosen``)."""
    tune = study.spec.tune
    if tune is None:
        return
    applied = {}
    for cell in cells:
        space = cell_space(tune, cell)
        if not space:
            continue
        values = (chosen or {}).get(cell.key) or {}
        applied[cell.key] = {
            "keys": list(space),
            "values": values,
            "how": "tuned" if tuned and values else "shipped" if values else "fixed",
        }
    payload = {
        "command": tune.command or f"reprlab run {study.spec.name} --tune",
        "objective": tune.objective.model_dump(mode="json"),
        "trials": tune.trials,
        "validation": study.spec.validation.model_dump(mode="json"),
        "cells": applied,
    }
    atomic.write_json(Path(out) / TUNING / APPLIED, payload)
