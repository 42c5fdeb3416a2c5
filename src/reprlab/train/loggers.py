"""What a fit records besides its checkpoints: ``RunLog`` writes the run folder's config,
status, curves (``logs/metrics.csv``) and summary through ``RunDir``, and feeds the experiment
trackers (TensorBoard, Weights & Biases or MLflow) when asked for and installed."""

import importlib.util
import os
import shutil
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
    """The optional experiment trackers; ``log`` sends one epoch's numeric metrics."""

    def __init__(self, names: list[str], run: RunDir, run_name: str, config: dict) -> None:
        check_loggers(names)
        self.sinks: list[Any] = []
        existed = run.path.exists()
        for name in names:
            try:
                self.sinks.append((name, self._open(name, run, run_name, config)))
            except Exception as error:
                self.close()
                if not existed:  # what the trackers began to write there goes with it
                    shutil.rmtree(run.path, ignore_errors=True)
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise ConfigError(
                    f"logger {name!r} could not start ({reason[:200]}); {HINTS[name]}"
                ) from error

    @staticmethod
    def _open(name: str, run: RunDir, run_name: str, config: dict):
        if name == "tensorboard":
            from lightning_fabric.loggers import TensorBoardLogger

            logger = TensorBoardLogger(str(run.logs), name="tensorboard", version="")
            logger.log_hyperparams(config)
            return logger
        if name == "wandb":
            import wandb

            return wandb.init(  # WANDB_MODE read at each start, not once per process
                name=run_name,
                dir=str(run.logs),
                config=config,
                reinit=True,
                mode=os.environ.get("WANDB_MODE") or None,
            )
        import mlflow

        mlflow.start_run(run_name=run_name)
        mlflow.log_params({k: str(v) for k, v in config.items()})
        return mlflow

    def log(self, metrics: dict[str, float], step: int) -> None:
        numeric = {k: v for k, v in metrics.items() if isinstance(v, (int, float))}
        for name, sink in self.sinks:
            if name == "tensorboard":
                sink.log_metrics(numeric, step=step)
            elif name == "wandb":
                sink.log(numeric, step=step)
            else:
                sink.log_metrics(numeric, step=step)

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


def _flatten(d: dict, prefix: str = "") -> dict[str, Any]:
    """Nested sections as one level of dotted keys (``model.vae.beta``)."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out
