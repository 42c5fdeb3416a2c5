"""Every command-line error of issue 14's point 8 is one line on stderr with its exit status
(2 usage, 1 data and runtime), and leaves nothing half-written."""

from __future__ import annotations

import json
import os
import resource
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import yaml

ROOT = Path(__file__).resolve().parents[1]
TRAIN = ["train", "--data", "digits", "--model", "ae", "--arch", "mlp", "--hidden", "16",
         "--latent-dim", "2", "--epochs", "1", "--set", "data.limit=200"]  # fmt: skip


def _reprlab(args, cwd, file_limit=None):
    """``reprlab ARGS`` in a fresh process; ``file_limit`` caps file sizes (a full disk)."""

    def limit():
        if file_limit is not None:
            signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write then fails with EFBIG
            resource.setrlimit(resource.RLIMIT_FSIZE, (file_limit, file_limit))

    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT / "src")}
    code = "import sys, reprlab.cli; sys.exit(reprlab.cli.main())"
    command = [sys.executable, "-c", code, *args]
    return subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, preexec_fn=limit, timeout=300
    )


def _snapshot(folder: Path) -> dict[str, bytes]:
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Path:
    """A finished one-epoch run."""
    cwd = tmp_path_factory.mktemp("trained")
    result = _reprlab([*TRAIN, "--out", "run"], cwd)
    assert result.returncode == 0, result.stderr
    return cwd / "run"


@pytest.fixture(scope="module")
def study(tmp_path_factory) -> Path:
    """A finished study of the small linear backend."""
    sys.path.insert(0, str(ROOT))
    from tests.study.test_runner import _run, _spec

    out = tmp_path_factory.mktemp("study") / "out"
    _run(_spec(losses=("mse",), seeds=(0, 1), epochs=1), out)
    return out


def _usage(extra):
    return {"args": [*TRAIN, *extra, "--out", "out"], "code": 2, "absent": "out"}


def _run_out_is_file(tmp_path, trained, study):
    (tmp_path / "taken").write_text("keep me")
    return {"args": ["run", "--out", "taken", "--set", "train.epochs=1"], "code": 2,
            "same": tmp_path / "taken"}  # fmt: skip


def _resume_wrong_shapes(tmp_path, trained, study):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(trained, run)
    config = yaml.safe_load((run / "config.yaml").read_text())
    config["model"]["latent_dim"] = 3
    (run / "config.yaml").write_text(yaml.safe_dump(config))
    return {"args": ["train", "--resume", "--out", "run"], "code": 2, "same": run}


def _report_wrong_types(tmp_path, trained, study):
    import shutil

    out = tmp_path / "study"
    shutil.copytree(study, out, ignore=shutil.ignore_patterns("report*", "results*"))
    index = json.loads((out / "study.json").read_text())
    index["runs"] = [{"run_id": 5, "seed": "zero", "cells": "main", "status": 1}]
    index["cells"] = 7
    (out / "study.json").write_text(json.dumps(index))
    return {"args": ["report", "study"], "code": 1, "same": out}


def _disk_full_train(tmp_path, trained, study):
    return {"args": [*TRAIN, "--out", "out"], "code": 1, "file_limit": 16_000, "run": "out"}


def _disk_full_report(tmp_path, trained, study):
    import shutil

    out = tmp_path / "study"
    shutil.copytree(study, out, ignore=shutil.ignore_patterns("report*", "results*"))
    return {"args": ["report", "study"], "code": 1, "file_limit": 2_000, "no_report": out}


CASES = {
    "precision foo": lambda *a: _usage(["--precision", "foo"]),
    "precision 16-true": lambda *a: _usage(["--precision", "16-true"]),
    "precision bf16-true": lambda *a: _usage(["--precision", "bf16-true"]),
    "precision 64-true": lambda *a: _usage(["--precision", "64-true"]),
    "strategy foo": lambda *a: _usage(["--strategy", "foo"]),
    "devices 0": lambda *a: _usage(["--devices", "0"]),
    "device cuda without cuda": lambda *a: _usage(["--device", "cuda"]),
    "seed 1e23": lambda *a: _usage(["--seed", "1e23"]),
    "seed beyond 64 bits": lambda *a: _usage(["--set", "train.seed=100000000000000000000000"]),
    "batch larger than the data with drop_last": lambda *a: _usage(
        ["--batch-size", "100000", "--set", "train.drop_last=true"]
    ),
    "run --out an existing file": _run_out_is_file,
    "resume a checkpoint of other shapes": _resume_wrong_shapes,
    "report on a study.json of wrong types": _report_wrong_types,
    "full disk during train": _disk_full_train,
    "full disk during a study's report": _disk_full_report,
}


@pytest.mark.parametrize("case", list(CASES))
def test_cli_errors_are_one_line_and_leave_nothing_half_written(case, tmp_path, trained, study):
    if case == "device cuda without cuda" and torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    spec = CASES[case](tmp_path, trained, study)
    before = _snapshot(spec["same"]) if "same" in spec else None
    result = _reprlab(spec["args"], tmp_path, spec.get("file_limit"))
    lines = result.stderr.strip().splitlines()
    assert result.returncode == spec["code"], result.stderr
    assert len(lines) == 1 and lines[0].startswith("reprlab ") and "error: " in lines[0], lines
    assert not list(tmp_path.rglob("*.tmp")), "a temporary file was left behind"
    if "absent" in spec:  # refused before anything was written
        assert not (tmp_path / spec["absent"]).exists()
    if before is not None:
        after = _snapshot(spec["same"])
        after.pop(".lock", None), before.pop(".lock", None)
        assert after == before
    if "run" in spec:  # what was written is whole: the config, and the failure recorded
        run = tmp_path / spec["run"]
        yaml.safe_load((run / "config.yaml").read_text())
        assert json.loads((run / "status.json").read_text())["status"] == "failed"
        assert not (run / "checkpoints" / "last.pt").exists()
    if "no_report" in spec:
        assert not (spec["no_report"] / "report.html").exists()
