"""Tuning with Optuna: a planted optimum is found, a killed tuning resumes without repeating
finished trials, and two jobs tuning one cell share its trials."""

import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from reprlab.study.spec import SearchParam
from reprlab.study.tune import optimize, storage

optuna = pytest.importorskip("optuna")

SPACE = {
    "model.loss_params.scale": SearchParam(kind="log-uniform", low=1e-3, high=10.0),
    "train.batch_size": SearchParam(kind="int", low=8, high=256, log=True),
    "model.loss": SearchParam(kind="choice", values=["mse", "l1", "cauchy"]),
}


def planted(values, trial=None):
    """Maximal (0) at scale 0.05, batch size 64, loss cauchy."""
    import math

    s = math.log10(values["model.loss_params.scale"]) - math.log10(0.05)
    b = math.log2(values["train.batch_size"]) - 6
    return -(s**2) - 0.1 * b**2 - (0 if values["model.loss"] == "cauchy" else 1.0)


def test_tuning_finds_a_planted_optimum(tmp_path):
    study = optimize(
        planted,
        SPACE,
        direction="higher",
        trials=60,
        store=storage(tmp_path / "optuna.db"),
        name="planted",
        seed=0,
        startup_trials=10,
        prune=False,
    )
    best = study.best_params
    assert best["model.loss"] == "cauchy"
    assert 0.025 < best["model.loss_params.scale"] < 0.1
    assert 32 <= best["train.batch_size"] <= 128
    assert len(study.trials) == 60


def test_tuning_is_seeded(tmp_path):
    runs = []
    for name in ("a", "b"):
        study = optimize(
            planted, SPACE, direction="higher", trials=8, store=storage(tmp_path / f"{name}.db"),
            name="x", seed=3, startup_trials=4, prune=False,
        )  # fmt: skip
        runs.append([t.params for t in study.trials])
    assert runs[0] == runs[1]


WORKER = textwrap.dedent(
    """
    import json, os, sys, time
    from reprlab.study.spec import SearchParam
    from reprlab.study.tune import optimize, storage

    store, log = sys.argv[1], sys.argv[2]
    die_at, trials, pause = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
    calls = 0

    def objective(values, trial):
        global calls
        calls += 1
        if calls == die_at:
            os._exit(9)  # killed mid-trial: the trial stays RUNNING in the store
        time.sleep(pause)
        with open(log, "a") as f:
            entry = {"pid": os.getpid(), "trial": trial.number, "x": values["x"]}
            f.write(json.dumps(entry) + "\\n")
        return -(values["x"] - 0.3) ** 2

    space = {"x": SearchParam(kind="uniform", low=0.0, high=1.0)}
    optimize(objective, space, direction="higher", trials=trials, store=storage(store, (1, 3)),
             name="cell", seed=0, startup_trials=3, prune=False, poll=0.2)
    """
)


def _worker(tmp_path: Path, die_at: int, trials: int, pause: float) -> subprocess.Popen:
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    args = [str(tmp_path / "optuna.db"), str(tmp_path / "log.jsonl"), str(die_at), str(trials)]
    return subprocess.Popen([sys.executable, str(script), *args, str(pause)])


def _log(tmp_path: Path) -> list[dict]:
    return [json.loads(line) for line in (tmp_path / "log.jsonl").read_text().splitlines()]


def _trials(tmp_path):
    study = optuna.load_study(study_name="cell", storage=storage(tmp_path / "optuna.db", (1, 3)))
    return study.get_trials(deepcopy=False)


def test_killed_tuning_resumes_without_repeating_finished_trials(tmp_path):
    first = _worker(tmp_path, die_at=4, trials=8, pause=0.0)
    assert first.wait(timeout=120) == 9
    before = _log(tmp_path)
    assert len(before) == 3
    states = [t.state for t in _trials(tmp_path)]
    assert states.count(optuna.trial.TrialState.RUNNING) == 1  # the killed trial
    second = _worker(tmp_path, die_at=0, trials=8, pause=0.0)
    assert second.wait(timeout=120) == 0
    after = _log(tmp_path)
    trials = _trials(tmp_path)
    complete = [t for t in trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 8 and len(after) == 8
    assert after[:3] == before  # the first three trials were not run again
    assert len({e["trial"] for e in after}) == 8
    assert len({e["x"] for e in after}) == 8  # no finished trial's values drawn again
    killed = [t for t in trials if t.state == optuna.trial.TrialState.FAIL]
    assert len(killed) == 1 and killed[0].number == 3


def test_two_jobs_share_one_cells_trials(tmp_path):
    optimize(  # create the store and the study before the jobs start
        lambda v, t: 0.0,
        {"x": SearchParam(kind="uniform", low=0.0, high=1.0)},
        direction="higher", trials=0 + 1, store=storage(tmp_path / "optuna.db", (1, 3)),
        name="cell", prune=False,
    )  # fmt: skip
    jobs = [_worker(tmp_path, die_at=0, trials=13, pause=0.4) for _ in range(2)]
    assert [job.wait(timeout=180) for job in jobs] == [0, 0]
    log = _log(tmp_path)
    complete = [t for t in _trials(tmp_path) if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(complete) == 13 and len(log) == 12  # one trial was the seed trial above
    assert len({e["pid"] for e in log}) == 2  # both jobs ran trials
    assert len({e["trial"] for e in log}) == 12  # and never the same one
