"""Training callbacks: hooks `reprlab.train.fit` calls at fixed points; their state is
checkpointed. A leaf module: what a model brings to training (`reprlab.metric_learning`'s
callbacks) needs nothing from `reprlab.train`.
"""

from typing import Any


class Callback:
    """Subclass and override any hook. ``fit`` is the running ``FitState`` (``model``,
    ``optimizer``, ``fabric``, ``epoch``, ``step``, ``run_dir``). A callback that raises stops
    the run with status ``failed``; ``state_dict``/``load_state_dict`` survive a resume."""

    def on_fit_start(self, fit) -> None:
        """Before the first epoch (also after a resume)."""

    def on_epoch_start(self, fit, epoch: int) -> None:
        """Before the batches of ``epoch`` (0-based)."""

    def on_step_end(self, fit, step: int, output) -> None:
        """After the optimiser step ``step`` (1-based, counted over the run); ``output`` is the
        step's ``LossOutput``."""

    def on_epoch_end(self, fit, epoch: int, metrics: dict[str, float]) -> None:
        """After the epoch's validation, before its checkpoint."""

    def state_dict(self) -> dict[str, Any]:
        return {}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        pass
