"""A study's defences: a killed worker fails only its run, names and overrides are checked
before any training, output stays under its root, and a lost Ray worker costs its run only
(the local Ray cluster's loopback and shutdown: ``test_ray_loopback``)."""

from __future__ import annotations

import os
import signal
import sys
import threading
import time
from pathlib import Path

import pytest
from tests.study.test_runner import ROOT, _run, _spec

from reprlab.errors import ConfigError, UnknownNameError
from reprlab.rundir import RunDir
from reprlab.study.expand import expand
from reprlab.study.layout import run_dir
from reprlab.study.runner import run_study
from reprlab.study.spec import apply_overrides, parse_study


def _kill_first_worker(out: Path, killed: list[str]) -> None:
    """SIGKILL the worker of the first run that has trained an epoch."""
    deadline = time.time() + 120
    while time.time() < deadline:
        for folder in out.glob("runs/*"):
            status = RunDir(folder).read_status()
            pid = folder / "worker.pid"
            if status["status"] == "running" and status.get("epoch", 0) >= 1 and pid.is_file():
                os.kill(int(pid.read_text()), signal.SIGKILL)
                killed.append(folder.name)
                return
        time.sleep(0.02)


@pytest.mark.slow
def test_killed_worker_fails_only_its_run_and_resumes(tmp_path):
    """Issue 14, point 1: kill -9 one worker of a 2-job study."""
    spec = _spec(losses=("mse", "l1"), seeds=(0, 1), epochs=4, sleep=0.3)
    killed: list[str] = []
    killer = threading.Thread(target=_kill_first_worker, args=(tmp_path, killed))
    killer.start()
    result = _run(spec, tmp_path, jobs=2)
    killer.join()
    assert len(killed) == 1
    by_id = {o["run_id"]: o for o in result.outcomes}
    assert len(by_id) == 4
    assert by_id[killed[0]]["status"] == "failed"
    assert by_id[killed[0]]["reason"] == "worker process died: killed by SIGKILL"
    others = [o["status"] for rid, o in by_id.items() if rid != killed[0]]
    assert others == ["done"] * 3
    assert RunDir(run_dir(tmp_path, killed[0])).read_status()["status"] == "failed"
    # a re-run resumes the killed run from its checkpoint and skips the others
    again = _run(spec, tmp_path, jobs=2)
    assert len(again.skipped) == 3
    [outcome] = again.outcomes
    assert outcome["run_id"] == killed[0] and outcome["status"] == "done" and outcome["resumed"]


def test_set_never_replaces_a_section_with_a_scalar():
    """Issue 14, point 5: ``--set train=5`` dropped every training setting."""
    config = {"train": {"epochs": 3, "lr": 0.01}, "model": {}}
    with pytest.raises(ConfigError, match="'train' is a section"):
        apply_overrides(config, {"train": 5})
    with pytest.raises(ConfigError, match=r"'train\.lr' is a value"):
        apply_overrides(config, {"train.lr.x": 1})
    assert config == {"train": {"epochs": 3, "lr": 0.01}, "model": {}}
    apply_overrides(config, {"train": {"epochs": 5}, "model.loss": "l1"})
    assert config == {"train": {"epochs": 5, "lr": 0.01}, "model": {"loss": "l1"}}


def test_run_set_of_a_section_exits_2(tmp_path, capsys):
    from reprlab.cli import main

    code = main(["run", "default", "--set", "train=5", "--out", str(tmp_path / "o")])
    assert code == 2 and "'train' is a section" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


SMALL = {"name": "small", "question": "q", "seeds": [0], "data": {"name": "digits"},
         "model": {"name": "ae", "arch": "mlp"}, "train": {"epochs": 1}}  # fmt: skip


@pytest.mark.parametrize(
    ("part", "value", "words"),
    [
        ("model", {"loss": "no-such-loss"}, "unknown loss 'no-such-loss'"),
        ("evaluate", {"metrics": ["no-such-metric"]}, "unknown metric 'no-such-metric'"),
        ("evaluate", {"figures": ["no-such-figure"]}, "unknown figure 'no-such-figure'"),
        ("evaluate", {"options": {"no_such_option": 1}}, "no_such_option"),
    ],
)
def test_every_name_is_checked_before_training(tmp_path, part, value, words):
    """Issue 14, point 6: an unknown name failed each run, or only after training."""
    data = {**SMALL, part: {**SMALL.get(part, {}), **value}}
    study = parse_study(data).resolve()
    with pytest.raises(ConfigError, match=words):
        expand(study)
    with pytest.raises(ConfigError, match=words):
        run_study(study, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_unknown_loss_is_an_unknown_name():
    data = {**SMALL, "axes": {"model.loss": ["mse", "no-such-loss"]}}
    with pytest.raises(UnknownNameError, match=r"cell main/model\.loss=no-such-loss"):
        expand(parse_study(data).resolve())


@pytest.mark.parametrize("profile", ["../../../escaped", "/tmp/x", "..", ".hidden", "a/b"])
def test_profile_names_are_slugs(profile):
    """Issue 14, point 2: a profile name decided where output went."""
    data = {"name": "s", "question": "q", "seeds": [0], "profiles": {profile: {}},
            "default_profile": profile}  # fmt: skip
    with pytest.raises(ConfigError, match="profile name"):
        parse_study(data)


def test_default_output_stays_under_outputs(tmp_path, monkeypatch):
    from reprlab.cli.run import default_out

    monkeypatch.chdir(tmp_path)
    assert default_out("s", "quick") == tmp_path / "outputs" / "s" / "quick"
    assert default_out("s", None) == tmp_path / "outputs" / "s" / "default"
    for study, profile in [("s", "../../x"), ("/tmp/x", "quick"), ("..", None)]:
        with pytest.raises(ConfigError):
            default_out(study, profile)


@pytest.mark.slow
def test_ray_retries_a_run_whose_worker_died(tmp_path, monkeypatch):
    """Issue 14, point 3 (Build): a lost Ray worker is retried for its run only; the retry
    resumes from the run's checkpoint."""
    pytest.importorskip("ray")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT), *sys.path]))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    spec = _spec(losses=("mse",), seeds=(0, 1), epochs=4, sleep=0.3)
    killed: list[str] = []
    killer = threading.Thread(target=_kill_first_worker, args=(tmp_path, killed))
    killer.start()
    result = _run(spec, tmp_path, executor="ray")
    killer.join()
    assert len(killed) == 1
    assert sorted(o["status"] for o in result.outcomes) == ["done", "done"]
    epochs = (run_dir(tmp_path, killed[0]) / "epochs.log").read_text().split()
    assert epochs[-1] == "3" and epochs[0] == "0" and len(epochs) <= 5  # resumed, not redone
