"""What a fit records besides its checkpoints: ``RunLog`` writes the run folder's config,
status, curves (``logs/metrics.csv``) and summary through ``RunDir``, and feeds the experiment
trackers (TensorBoard, Weights & Biases or MLflow) when asked for and installed."""

import hashlib
import importlib.util
import os
import re
import shutil
from pathlib import Path
from typing import Any

from reprlab.errors import ConfigError
from reprlab.rundir import RunDir
from reprlab.train.config import RunConfig, dump_config, run_id

#: logger name -> the package it needs
PACKAGES = {"tensorboard": "tensorboard", "wandb": "wandb", "mlflow": "mlflow"}
#: logger name -> what to do when it cannot start
HINTS = {
    "tensorboard": "check that the run directory is writable",
    "wandb": "run `wandb login`, or set WANDB_MODE=offline to keep the records local",
    "mlflow": "set MLFLOW_TRACKING_URI to a server or database (e.g. sqlite:///mlflow.db with "
    "the full mlflow package)",
}


def check_loggers(names: list[str]) -> None:
    """Raise ``ConfigError`` for a logger whose package is not installed (before any write)."""
    for name in names:
        if importlib.util.find_spec(PACKAGES[name]) is None:
            raise ConfigError(
                f"logger {name!r} needs the {PACKAGES[name]!r} package; install it "
                f"(pip install {PACKAGES[name]}) or drop {name!r} from train.loggers"
            )


class ExternalLoggers:
    """The optional experiment trackers; ``log`` sends one epoch's numeric metrics,
    ``log_figures`` PNG files. ``resume`` reopens the run's own records (W&B by an id derived
    from the run folder, MLflow by the ``reprlab.run_dir`` tag) to add evaluation results."""

    def __init__(
        self, names: list[str], run: RunDir, run_name: str, config: dict, resume: bool = False
    ) -> None:
        check_loggers(names)
        self.sinks: list[Any] = []
        existed = run.path.exists()
        for name in names:
            try:
                self.sinks.append((name, self._open(name, run, run_name, config, resume)))
            except Exception as error:
                self.close()
                if not existed:  # what the trackers began to write there goes with it
                    shutil.rmtree(run.path, ignore_errors=True)
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise ConfigError(
                    f"logger {name!r} could not start ({reason[:200]}); {HINTS[name]}"
                ) from error

    @staticmethod
    def _open(name: str, run: RunDir, run_name: str, config: dict, resume: bool = False):
        if name == "tensorboard":
            from lightning_fabric.loggers import TensorBoardLogger

            logger = TensorBoardLogger(str(run.logs), name="tensorboard", version="")
            if not resume:
                logger.log_hyperparams(config)
            return logger
        if name == "wandb":
            import wandb

            return wandb.init(  # WANDB_MODE read at each start, not once per process
                name=run_name,
                dir=str(run.logs),
                config=config or None,
                reinit=True,
                mode=os.environ.get("WANDB_MODE") or None,
                id=_tracker_id(run),
                resume="allow",
            )
        import mlflow

        tag = str(run.path.resolve())
        found = []
        if resume:
            found = mlflow.search_runs(
                filter_string=f"tags.`reprlab.run_dir` = '{tag}'",
                search_all_experiments=True,
                output_format="list",
            )
        if found:
            mlflow.start_run(run_id=found[0].info.run_id)
        else:
            mlflow.start_run(run_name=run_name, tags={"reprlab.run_dir": tag})
            mlflow.log_params({k: str(v) for k, v in config.items()})
        return mlflow

    def log(self, metrics: dict[str, float], step: int) -> None:
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        for name, sink in self.sinks:
            if name == "tensorboard":
                sink.log_metrics(numeric, step=step)
            elif name == "wandb":
                sink.log(numeric, step=step)
            else:  # MLflow's names allow letters, digits and _-. /
                sink.log_metrics({re.sub(r"[^\w\-. /]", "_", k): v for k, v in numeric.items()},
                                 step=step)  # fmt: skip

    def log_figures(self, paths: list[Path], step: int) -> None:
        """Each PNG under its file name: TensorBoard images, W&B images, MLflow artifacts."""
        for name, sink in self.sinks:
            for path in paths:
                if name == "tensorboard":
                    import numpy as np
                    from PIL import Image

                    image = np.asarray(Image.open(path).convert("RGB"))
                    sink.experiment.add_image(
                        f"figures/{path.stem}", image, step, dataformats="HWC"
                    )
                elif name == "wandb":
                    import wandb

                    sink.log({f"figures/{path.stem}": wandb.Image(str(path))}, step=step)
                else:
                    sink.log_artifact(str(path), artifact_path="figures")

    def close(self) -> None:
        for name, sink in self.sinks:
            if name == "tensorboard":
                sink.finalize("success")
            elif name == "wandb":
                sink.finish()
            else:
                sink.end_run()


class RunLog:
    """The records of one fit, written by process 0 only (the others keep none). Opening it
    starts the trackers first, so one that cannot start leaves no run behind, then writes
    ``config.yaml``. Every status record carries ``run_id`` and the planned ``epochs``."""

    def __init__(self, run: RunDir, config: RunConfig, is_zero: bool) -> None:
        self.run, self.is_zero = run, is_zero
        self.info = {"run_id": run_id(config), "epochs": config.train.epochs}
        self.trackers = None
        if is_zero:
            flat = _flatten(config.model_dump(mode="json"))
            self.trackers = ExternalLoggers(config.train.loggers, run, run.path.name, flat)
            run.write_config(dump_config(config))

    def status(self, status: str, reason: str = "", **fields: Any) -> None:
        if self.is_zero:
            self.run.write_status(status, reason, **fields, **self.info)

    def epoch(self, history: list[dict[str, Any]], row: dict[str, Any], step: int) -> None:
        """``logs/metrics.csv`` rewritten with every row so far; ``row`` to the trackers."""
        if self.is_zero:
            self.run.write_curves(history)
            self.trackers.log(row, step)

    def fail(self, reason: str, **fields: Any) -> None:
        self.status("failed", reason, **fields)
        self.close()

    def finish(self, status: str, reason: str, *, epoch: int, step: int, seconds: float,
               metrics: dict[str, Any]) -> None:  # fmt: skip
        """The final status and ``logs/summary.json``; the trackers are closed."""
        self.status(status, reason, epoch=epoch, step=step)
        if self.is_zero:
            self.run.write_summary(
                {"status": status, "reason": reason, "epochs": epoch, "steps": step,
                 "seconds": seconds, "metrics": metrics}
            )  # fmt: skip
        self.close()

    def close(self) -> None:
        if self.trackers is not None:
            self.trackers.close()
            self.trackers = None


def _tracker_id(run: RunDir) -> str:
    """A W&B run id that is the same for every open of one run folder."""
    return hashlib.sha256(str(run.path.resolve()).encode()).hexdigest()[:16]


def log_evaluation(
    run_dir: str | Path, names: list[str], metrics: dict, figures: list[Path]
) -> None:
    """Send a run's evaluation (numbers as ``eval/NAME/...``) and figures to the trackers
    ``names`` (the run's ``train.loggers``), in the run's own records, at its last step."""
    if not names:
        return
    run = RunDir(run_dir)
    flat = {f"eval/{k}": v for k, v in _flatten(metrics, sep="/").items()}
    step = int(run.read_status().get("step") or 0)
    trackers = ExternalLoggers(names, run, run.path.name, {}, resume=True)
    try:
        trackers.log(flat, step)
        trackers.log_figures([Path(p) for p in figures], step)
    finally:
        trackers.close()


def _flatten(d: dict, prefix: str = "", sep: str = ".") -> dict[str, Any]:
    """Nested sections as one level of dotted keys (``model.vae.beta``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}{sep}", sep))
        else:
            out[f"{prefix}{k}"] = v
    return out
