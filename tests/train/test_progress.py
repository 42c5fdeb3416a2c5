"""Training progress: the bar moves every step and at each epoch's end (checked in a
pseudo-terminal), one plain line per epoch off a terminal; alpha and scale per epoch."""

import csv
import io
import os
import pty
import re
import select
import subprocess
import sys
from pathlib import Path

import torch

from reprlab.losses import AdaptiveImageLoss, AdaptiveLoss
from reprlab.train import train_run
from reprlab.train.progress import TrainingProgress
from reprlab.train.tracking import shape_summary

SRC = str(Path(__file__).resolve().parents[2] / "src")
CONFIG = {
    "data": {"name": "digits", "limit": 300, "val_fraction": 0.1},
    "model": {"name": "ae", "hidden": [16], "latent_dim": 4, "loss": "adaptive"},
    "train": {"epochs": 2, "batch_size": 64, "log_every": 50},
}


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_bar_moves_every_step_and_at_epoch_end(monkeypatch):
    monkeypatch.delenv("CI", raising=False)
    stream = Tty()
    with TrainingProgress(10, 0, None, epochs=2, stream=stream) as bar:
        assert bar.progress is not None
        task = bar.progress.tasks[0]
        for step in range(1, 6):
            bar.step(step, 1)
            assert task.completed == step and task.fields["epoch"] == "1/2"
        bar.epoch_end({"epoch": 1, "step": 5, "loss": 0.25})
        assert task.fields["loss"] == "0.25" and task.fields["speed"].endswith("it/s")


def test_one_plain_line_per_epoch_off_a_terminal():
    stream = io.StringIO()
    with TrainingProgress(10, 0, None, epochs=2, stream=stream) as bar:
        assert bar.progress is None
        for step in range(1, 6):
            bar.step(step, 1)
        bar.epoch_end({"epoch": 1, "step": 5, "loss": 0.5, "val_loss": 0.6, "alpha_mean": 1.2})
    lines = stream.getvalue().splitlines()
    assert len(lines) == 1
    assert re.fullmatch(
        r"epoch 1/2  step 5/10  loss 0\.5  val_loss 0\.6  alpha_mean 1\.2  [\d.,]+ it/s  "
        r"eta \d+:\d\d:\d\d",
        lines[0],
    ), lines[0]
    silent = io.StringIO()
    with TrainingProgress(10, 0, False, epochs=2, stream=silent) as bar:
        bar.epoch_end({"epoch": 1, "step": 5, "loss": 0.5})
    assert silent.getvalue() == ""


SCRIPT = f"""
import sys
sys.path.insert(0, {SRC!r})
from reprlab.train import train_run
train_run({CONFIG!r}, sys.argv[1])
"""


def _read_all(fd: int, proc: subprocess.Popen) -> bytes:
    out = b""
    while True:
        ready, _, _ = select.select([fd], [], [], 1.0)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed the terminal
                break
            if not chunk:
                break
            out += chunk
        elif proc.poll() is not None:
            break
    return out


def test_bar_in_a_pseudo_terminal(tmp_path):
    """Five steps per epoch and log_every 50: the bar still reaches every epoch and step."""
    master, slave = pty.openpty()
    env = {**os.environ, "OMP_NUM_THREADS": "1", "COLUMNS": "160"}
    env.pop("CI", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "run")],
        stdin=slave, stdout=slave, stderr=slave, env=env, close_fds=True,
    )  # fmt: skip
    os.close(slave)
    try:
        output = _read_all(master, proc).decode("utf-8", "replace")
    finally:
        os.close(master)
        proc.wait(timeout=120)
    assert proc.returncode == 0, output[-2000:]
    text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", output)
    assert "\x1b[" in output  # drawn as a live bar, not printed lines
    steps = [int(m) for m in re.findall(r"(\d+)/10\b", text)]
    assert steps and max(steps) == 10, text[-1500:]
    assert "epoch 2/2" in text and "it/s" in text and "eta" in text
    assert re.search(r"loss \d", text), text[-1500:]  # the epoch's loss, though log_every > steps


def test_plain_lines_through_a_pipe(tmp_path):
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, "-c", SCRIPT, str(tmp_path / "run")],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-2000:]
    lines = [line for line in done.stdout.splitlines() if line.startswith("epoch")]
    assert [line.split()[1] for line in lines] == ["1/2", "2/2"], done.stdout
    assert "\x1b[" not in done.stdout and "alpha_mean" in lines[0]


def test_alpha_and_scale_summaries_per_epoch(tmp_path):
    result = train_run(CONFIG, tmp_path / "run", progress=False)
    with open(tmp_path / "run" / "logs" / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 2
    for key in ("alpha_mean", "alpha_min", "alpha_max", "scale_mean", "scale_min", "scale_max"):
        assert key in rows[0], rows[0].keys()
    row = result.history[-1]
    assert row["alpha_min"] <= row["alpha_mean"] <= row["alpha_max"]
    assert row["scale_min"] <= row["scale_mean"] <= row["scale_max"]


def test_shape_summary_matches_the_module():
    loss = AdaptiveLoss(5, alpha_init=1.0, scale_init=0.5)
    with torch.no_grad():  # parameters that differ per dimension
        for p in loss.parameters():
            p.copy_(torch.linspace(-1, 1, p.numel()).reshape(p.shape))
    model = torch.nn.Sequential(torch.nn.Linear(2, 2), loss)
    summary = shape_summary(model)
    alpha, scale = loss.alpha().detach(), loss.scale().detach()
    assert summary["alpha_mean"] == float(alpha.mean())
    assert summary["alpha_min"] == float(alpha.min()) < summary["alpha_max"] == float(alpha.max())
    assert summary["scale_mean"] == float(scale.mean())
    two = torch.nn.ModuleDict({"a": AdaptiveLoss(3), "b": AdaptiveLoss(2)})
    assert set(shape_summary(two)) == {
        f"{m}/{q}_{s}" for m in "ab" for q in ("alpha", "scale") for s in ("mean", "min", "max")
    }
    assert shape_summary(torch.nn.Linear(2, 2)) == {}
    student = AdaptiveImageLoss(1, 4, 4, use_students_t=True)  # a scale, no alpha
    assert set(shape_summary(student)) == {"scale_mean", "scale_min", "scale_max"}
