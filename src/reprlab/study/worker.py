"""One run of a study, in whatever process an executor chose: train (resuming from the last
checkpoint when there is one), evaluate, draw the figures. Everything it writes lies in its own
run directory; any error becomes ``status.json`` ``failed`` with a one-line reason (and the
traceback in ``logs/error.log``), so a failed run never stops the study.
"""

from __future__ import annotations

import importlib
import os
import time
import traceback
from pathlib import Path
from typing import Any

from reprlab.rundir import RunDir

DEFAULT_BACKEND = "reprlab.study.backend"


def set_threads(threads: int) -> None:
    """Limit this process's BLAS/OpenMP and torch threads (``cores // jobs``)."""
    for var in ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS"):
        os.environ[var] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _one_line(error: BaseException) -> str:
    text = " ".join(str(error).split()) or "(no message)"
    return f"{type(error).__name__}: {text}"[:500]


def _fail(run: RunDir, stage: str, error: BaseException) -> dict[str, Any]:
    reason = f"{stage}: {_one_line(error)}"
    run.mark_failed(reason, traceback.format_exc())
    return {"status": "failed", "reason": reason}


def execute_run(task: dict[str, Any]) -> dict[str, Any]:
    """Run ``task`` (``run_dir``, ``config``, ``metrics``, ``figures``, ``threads``, and the
    ``backend`` module that trains and evaluates, by default ``reprlab.study.backend``).

    Returns ``{'run_id', 'status', 'reason', 'seconds', 'resumed', 'metrics'}``; never raises
    for a problem of the run itself.
    """
    start = time.perf_counter()
    run_dir = Path(task["run_dir"])
    run = RunDir(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    if task.get("threads"):
        set_threads(int(task["threads"]))
    before = run.read_status()
    outcome: dict[str, Any] = {"resumed": False}
    try:
        backend = importlib.import_module(task.get("backend") or DEFAULT_BACKEND)
        if before["status"] != "done":
            outcome["resumed"] = backend.has_checkpoint(run_dir)
            backend.train(task["config"], run_dir, resume=outcome["resumed"])
    except Exception as error:
        outcome.update(_fail(run, "training", error))
    else:
        status = run.read_status()
        if status["status"] != "done":
            outcome.update(status=status["status"], reason=status.get("reason", ""))
        else:
            try:
                backend.evaluate(
                    run_dir,
                    task.get("metrics"),
                    task.get("figures") or [],
                    task.get("options") or {},
                )
            except Exception as error:
                outcome.update(_fail(run, "evaluation", error))
            else:
                outcome.update(status="done", reason="")
    outcome["run_id"] = run_dir.name
    outcome["seconds"] = time.perf_counter() - start
    outcome["metrics"] = run.read_metrics() if outcome["status"] == "done" else None
    return outcome
