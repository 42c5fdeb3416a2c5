"""The study's progress line: runs done of all, failures and the time left."""

import io
import re

from rich.console import Console

from reprlab.study.progress import StudyProgress
from reprlab.study.runner import run_study
from reprlab.study.spec import parse_study

BACKEND = "tests.study.linear_backend"


def _console(stream, terminal: bool) -> Console:
    return Console(file=stream, force_terminal=terminal, width=150, highlight=False, markup=False)


def test_plain_lines_count_runs_failures_and_time_left():
    stream = io.StringIO()
    with StudyProgress("s", 3, _console(stream, False), interactive=False) as progress:
        progress.finished("done", "done  a")
        progress.finished("failed", "FAILED  b")
        progress.finished("diverged", "DIVERGED  c")
    lines = stream.getvalue().splitlines()
    assert re.fullmatch(r"\[1/3\] done  a  \(0 failed, eta \d+:\d\d:\d\d\)", lines[0])
    assert re.fullmatch(r"\[2/3\] FAILED  b  \(1 failed, eta \d+:\d\d:\d\d\)", lines[1])
    assert lines[2] == "[3/3] DIVERGED  c  (1 failed, eta 0:00:00)"


def test_terminal_bar_shows_done_total_and_failures():
    stream = io.StringIO()
    with StudyProgress("s", 2, _console(stream, True), interactive=True) as progress:
        progress.finished("failed", "FAILED  b")
        progress.progress.refresh()
        text = re.sub(r"\x1b\[[0-9;?]*[A-Za-z]", "", stream.getvalue())
        assert "1/2" in text and "1 failed" in text and "eta" in text
    assert "FAILED  b" in text


def test_a_study_prints_run_k_of_n(tmp_path):
    spec = parse_study(
        {
            "name": "linear",
            "question": "?",
            "model": {"latent_dim": 2},
            "train": {"epochs": 1},
            "seeds": [0, 1],
            "axes": {"loss": {"path": "model.loss", "values": ["mse"]}},
        }
    )
    stream = io.StringIO()
    run_study(spec.resolve(), tmp_path, backend=BACKEND, console=_console(stream, False))
    text = stream.getvalue()
    assert "[1/2] done" in text and "[2/2] done" in text and "(0 failed, eta 0:00:00)" in text
