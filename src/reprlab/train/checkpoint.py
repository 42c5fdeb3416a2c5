"""Checkpoints: one state dict per file, written atomically, read with ``weights_only=True``.

A checkpoint holds the model, optimiser and schedule states, every RNG state (Python, NumPy,
torch CPU and CUDA), the number of finished epochs and steps, the metrics history, and the
states of the callbacks (the caller's under ``callbacks``, the model's ``training_callbacks``
under ``model_callbacks``) and of the training loader, so a resumed run continues exactly,
and the type of the device it was written on. Resuming on another device type (a checkpoint
written on a GPU, resumed on the CPU, or back) works but warns: GPU kernels and CPU kernels
round differently, so the run is not promised to match an uninterrupted one bit for bit.
Where a run keeps its checkpoint is ``RunDir.last_checkpoint``'s knowledge.
"""

import pickle
import random
import warnings
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reprlab import atomic
from reprlab.errors import ReprlabError


def rng_state() -> dict[str, Any]:
    """Every global RNG state, as tensors and plain types (safe for ``weights_only``)."""
    version, mt, gauss = random.getstate()
    name, keys, pos, has_gauss, cached = np.random.get_state()  # noqa: NPY002 (the global RNG others use)
    state = {
        "python": [version, list(mt), gauss],
        "numpy": [name, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, mt, gauss = state["python"]
    random.setstate((version, tuple(mt), gauss))
    name, keys, pos, has_gauss, cached = state["numpy"]
    np.random.set_state((name, keys.numpy().astype(np.uint32), pos, has_gauss, cached))  # noqa: NPY002
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():  # as many GPUs as both runs see
        for index, cuda_state in enumerate(state["cuda"][: torch.cuda.device_count()]):
            torch.cuda.set_rng_state(cuda_state, index)


class DeviceMismatchWarning(UserWarning):
    """A checkpoint resumed on another device type than the one that wrote it."""


def check_device(checkpoint: dict[str, Any], device: str | torch.device) -> None:
    """Warn (``DeviceMismatchWarning``) when ``checkpoint`` was written on another device type
    than ``device``; checkpoints without a recorded device are taken as CPU ones."""
    saved, now = checkpoint.get("device", "cpu"), torch.device(device).type
    if saved != now:
        warnings.warn(
            f"resuming on {now} a checkpoint written on {saved}: training continues, but the "
            "results are not promised to be bit-identical to an uninterrupted run",
            DeviceMismatchWarning,
            stacklevel=3,
        )


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    atomic.torch_save(state, path)


def load_checkpoint(path: Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """The checkpoint at ``path`` with its tensors on ``map_location``; a missing or
    unreadable file is a ``ReprlabError``."""
    if not path.is_file():
        raise ReprlabError(f"no checkpoint at {str(path)!r}; train the run first")
    if path.stat().st_size == 0:
        raise ReprlabError(
            f"checkpoint {str(path)!r} is empty (0 bytes); delete it and train the run again"
        )
    try:
        return torch.load(path, map_location=map_location, weights_only=True)
    except Exception as error:  # truncated file, foreign pickle
        raise ReprlabError(
            f"cannot read checkpoint {str(path)!r}: {_why(error)}; it is damaged or not a "
            "reprlab checkpoint: delete it and train the run again"
        ) from None


def _why(error: BaseException) -> str:
    """What went wrong, without torch's advice to load untrusted files with
    ``weights_only=False`` (which would run arbitrary code)."""
    text = " ".join(str(error).split())
    if "weights_only" in text or isinstance(error, pickle.UnpicklingError):
        return f"{type(error).__name__}: not a safe tensor archive"
    return f"{type(error).__name__}: {text[:200] or 'unreadable'}"
