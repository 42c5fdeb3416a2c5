"""Per-epoch metrics: always ``logs/metrics.csv`` in the run directory; TensorBoard, Weights &
Biases or MLflow as well when asked for and installed."""

import csv
import importlib.util
import io
import os
import shutil
from pathlib import Path
from typing import Any

from reprlab import atomic
from reprlab.errors import ConfigError

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


def write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    """All rows, columns in first-seen order, rewritten atomically."""
    columns: dict[str, None] = {}
    for row in rows:
        columns.update(dict.fromkeys(row))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(columns), lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    atomic.write_text(path, buffer.getvalue())


class ExternalLoggers:
    """The optional experiment trackers; ``log`` sends one epoch's numeric metrics."""

    def __init__(self, names: list[str], run_dir: Path, run_name: str, config: dict) -> None:
        check_loggers(names)
        self.sinks: list[Any] = []
        existed = run_dir.exists()
        for name in names:
            try:
                self.sinks.append((name, self._open(name, run_dir, run_name, config)))
            except Exception as error:
                self.close()
                if not existed:  # what the trackers began to write there goes with it
                    shutil.rmtree(run_dir, ignore_errors=True)
                reason = (str(error).strip().splitlines() or [type(error).__name__])[0]
                raise ConfigError(
                    f"logger {name!r} could not start ({reason[:200]}); {HINTS[name]}"
                ) from error

    @staticmethod
    def _open(name: str, run_dir: Path, run_name: str, config: dict):
        if name == "tensorboard":
            from lightning_fabric.loggers import TensorBoardLogger

            logger = TensorBoardLogger(str(run_dir / "logs"), name="tensorboard", version="")
            logger.log_hyperparams(config)
            return logger
        if name == "wandb":
            import wandb

            return wandb.init(  # WANDB_MODE read at each start, not once per process
                name=run_name,
                dir=str(run_dir / "logs"),
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
