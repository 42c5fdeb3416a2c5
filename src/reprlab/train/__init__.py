"""Training: ``RunConfig`` and ``run_id``; ``fit`` on Lightning Fabric with checkpoints and
callbacks; ``train_run`` for a whole run from a config; ``load_run`` to read one back.

Training writes ``config.yaml``, ``status.json``, ``checkpoints/last.pt``, ``logs/metrics.csv``
and ``logs/summary.json`` of a run folder, all through ``reprlab.rundir.RunDir``.
"""

from reprlab.callbacks import Callback
from reprlab.train.config import (
    DataConfig,
    RunConfig,
    TrainConfig,
    dump_config,
    load_config,
    run_id,
    validate_config,
)
from reprlab.train.loop import FitResult, FitState, fit, seed_everything
from reprlab.train.run import LoadedRun, load_data, load_run, prepare, train_run

__all__ = [
    "Callback",
    "DataConfig",
    "FitResult",
    "FitState",
    "LoadedRun",
    "RunConfig",
    "TrainConfig",
    "dump_config",
    "fit",
    "load_config",
    "load_data",
    "load_run",
    "prepare",
    "run_id",
    "seed_everything",
    "train_run",
    "validate_config",
]
