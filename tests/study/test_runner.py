"""The runner and its executors, with the real linear backend of ``linear_backend``:
skip and resume after a killed study, parallel jobs into one directory, failures, Ray."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reprlab.errors import ConfigError
from reprlab.rundir import RunDir
from reprlab.study.executors import threads_per_job
from reprlab.study.layout import read_index, run_dir
from reprlab.study.report import write_report
from reprlab.study.results import load_results
from reprlab.study.runner import run_study
from reprlab.study.spec import parse_study

BACKEND = "tests.study.linear_backend"
ROOT = Path(__file__).resolve().parents[2]


def _spec(losses=("mse", "l1"), seeds=(0, 1), epochs=3, sleep=0.0, name="linear"):
    return parse_study(
        {
            "name": name,
            "question": "Does L1 keep more class information than MSE?",
            "model": {"latent_dim": 2},
            "train": {"epochs": epochs, "sleep": sleep},
            "seeds": list(seeds),
            "axes": {"loss": {"path": "model.loss", "values": list(losses)}},
            "evaluate": {"figures": ["scatter"]},
            "report": {"metrics": ["probe/logistic/accuracy", "recon/mse"]},
        }
    )


def _run(spec, out, **kwargs):
    return run_study(spec.resolve(), out, backend=BACKEND, **kwargs)


def test_threads_are_divided():
    assert threads_per_job(2, cores=2) == 1
    assert threads_per_job(3, cores=8) == 2
    assert threads_per_job(4, cores=2) == 1


def test_study_runs_then_skips(tmp_path):
    first = _run(_spec(), tmp_path)
    assert [o["status"] for o in first.outcomes] == ["done"] * 4
    index = read_index(tmp_path)
    assert len(index["runs"]) == 4 and index["cells"] == ["main/loss=mse", "main/loss=l1"]
    results = load_results(tmp_path)
    assert results.stat("main/loss=mse", "probe/logistic/accuracy").n == 2
    mtimes = {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/metrics.json")}
    second = _run(_spec(), tmp_path)
    assert len(second.skipped) == 4 and not second.outcomes
    assert mtimes == {p: p.stat().st_mtime_ns for p in tmp_path.glob("runs/*/metrics.json")}
    with pytest.raises(ConfigError, match="holds study 'linear'"):
        _run(_spec(name="other"), tmp_path)


def test_failing_run_is_reported_while_others_finish(tmp_path):
    result = _run(_spec(losses=("mse", "explode", "nan"), seeds=(0,)), tmp_path, jobs=2)
    by_status = {o["status"]: o for o in result.outcomes}
    assert set(by_status) == {"done", "failed", "diverged"}
    assert by_status["failed"]["reason"] == "training: RuntimeError: exploded on purpose"
    failed_dir = run_dir(tmp_path, by_status["failed"]["run_id"])
    assert "Traceback" in (failed_dir / "logs" / "error.log").read_text()
    assert RunDir(failed_dir).read_status()["status"] == "failed"
    html = write_report(tmp_path)[0].read_text()
    assert "exploded on purpose" in html and "loss is nan at epoch 0" in html
    # failed runs are retried; diverged ones are a result and are kept
    again = _run(_spec(losses=("mse", "explode", "nan"), seeds=(0,)), tmp_path)
    assert [o["status"] for o in again.outcomes] == ["failed"] and len(again.skipped) == 2


@pytest.mark.slow
def test_parallel_jobs_write_one_directory(tmp_path):
    spec = _spec(losses=("mse", "l1"), seeds=(0, 1, 2), epochs=2)
    result = _run(spec, tmp_path, jobs=2)
    assert [o["status"] for o in result.outcomes] == ["done"] * 6
    index = read_index(tmp_path)
    assert len(index["runs"]) == 6
    for entry in index["runs"]:
        path = run_dir(tmp_path, entry["run_id"])
        assert RunDir(path).read_status()["status"] == "done"
        json.loads((path / "metrics.json").read_text())
        assert (path / "epochs.log").read_text().split() == ["0", "1"]
    assert not list(tmp_path.rglob("*.tmp"))
    # the same numbers as a single-job run: nothing was mixed up between processes
    serial = tmp_path.parent / "serial"
    _run(spec, serial, jobs=1)
    a, b = load_results(tmp_path), load_results(serial)
    for key, stat in a.stats.items():
        assert stat.values == pytest.approx(b.stats[key].values, rel=1e-6)


@pytest.mark.slow
def test_killed_study_resumes_from_checkpoints(tmp_path):
    out = tmp_path / "study"
    script = (
        f"import sys; sys.path.insert(0, {str(ROOT)!r})\n"
        "from tests.study.test_runner import _spec, _run\n"
        f"_run(_spec(seeds=(0,), epochs=6, sleep=0.4), {str(out)!r})\n"
    )
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-c", script],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    deadline = time.time() + 120
    killed_in = None
    while time.time() < deadline:
        runs = list(out.glob("runs/*"))
        statuses = {r: RunDir(r).read_status() for r in runs}
        done = [r for r, s in statuses.items() if s["status"] == "done"]
        partial = [
            r for r, s in statuses.items() if s.get("epoch", 0) >= 2 and s["status"] == "running"
        ]
        if done and partial:
            killed_in = partial[0]
            break
        time.sleep(0.05)
    assert killed_in is not None, proc.communicate()[0]
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    finished = [r for r in out.glob("runs/*") if RunDir(r).read_status()["status"] == "done"]
    first_done = {r: (r / "metrics.json").stat().st_mtime_ns for r in finished}
    epochs_before = (killed_in / "epochs.log").read_text().split()

    result = _run(_spec(seeds=(0,), epochs=6, sleep=0.4), out)
    assert set(result.skipped) == {r.name for r in finished}
    resumed = {o["run_id"]: o for o in result.outcomes}[killed_in.name]
    assert resumed["status"] == "done" and resumed["resumed"]
    epochs_after = (killed_in / "epochs.log").read_text().split()
    # training went on from the last checkpoint: no epoch before it was trained again
    assert epochs_after[: len(epochs_before)] == epochs_before
    assert epochs_after[-1] == "5" and len(epochs_after) - len(set(epochs_after)) <= 1
    assert {r: (r / "metrics.json").stat().st_mtime_ns for r in finished} == first_done
    assert all(RunDir(r).read_status()["status"] == "done" for r in out.glob("runs/*"))


@pytest.mark.slow
def test_ray_executor_runs_two_runs(tmp_path, monkeypatch):
    pytest.importorskip("ray")
    import ray

    # workers inherit this environment: they import the test backend from the repository
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *sys.path]))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    ray.init(num_cpus=1, include_dashboard=False, log_to_driver=False)
    try:
        result = _run(_spec(losses=("mse",), seeds=(0, 1), epochs=2), tmp_path, executor="ray")
    finally:
        ray.shutdown()
    assert sorted(o["status"] for o in result.outcomes) == ["done", "done"]
    assert load_results(tmp_path).stat("main/loss=mse", "recon/mse").n == 2
