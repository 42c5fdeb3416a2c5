"""Device settings of a fit: channels_last for conv models on a GPU, cuDNN autotuning, and the
optional ``torch.compile`` of the model's loss.

channels_last (NHWC) lets cuDNN pick its fastest convolution kernels, above all under bf16
(PyTorch's "(beta) Channels Last Memory Format" tutorial); ``cudnn.benchmark`` times the
candidate algorithms once per input shape, which pays off when every batch has one shape.
"""

import contextlib
import os

import torch
from torch import nn

__all__ = ["compile_loss", "configure_backends", "default_device", "has_conv", "use_channels_last"]

CONV = (nn.Conv1d, nn.Conv2d, nn.Conv3d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def default_device() -> torch.device:
    """``cuda`` when a CUDA GPU is present, else ``cpu``."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def has_conv(model: nn.Module) -> bool:
    """Whether ``model`` holds a convolution."""
    return any(isinstance(m, CONV) for m in model.modules())


def use_channels_last(model: nn.Module, device: torch.device) -> bool:
    """channels_last for conv models on a CUDA device (on the CPU it rarely helps)."""
    return torch.device(device).type == "cuda" and has_conv(model)


def configure_backends(device: torch.device) -> None:
    """Turn on cuDNN autotuning on a CUDA device (results may then differ from run to run in
    the last bits; CPU runs stay bit-identical)."""
    if torch.device(device).type == "cuda":
        torch.backends.cudnn.benchmark = True


#: set to "1" by Lightning on import; torch then answers ``torch.cuda.is_available()`` through
#: NVML, which it loads again on every call until CUDA is initialised
NVML_CHECK = "PYTORCH_NVML_BASED_CUDA_CHECK"


@contextlib.contextmanager
def cpu_step_settings(device: torch.device):
    """While training on the CPU, two process settings that make small steps cheaper; both
    restored after.

    - Denormal floats are flushed to zero (``torch.set_flush_denormal``, in the calling thread,
      as GPUs do). Weights and Adam moments that decay towards zero (seed 004's linear model
      with L1 and weight decay) reach denormals, on which x86 arithmetic runs many times
      slower (`benchmarks/bench_denormals.py`: that model's epochs slowed from 1.7 to 20.8 s
      without flushing; docs/benchmarks.md).
    - ``PYTORCH_NVML_BASED_CUDA_CHECK`` is lifted. Every Adam step asks whether an accelerator
      is available (its graph-capture check); under Lightning's setting torch answers by
      loading NVML (``ctypes.CDLL``) each time, on a machine without a GPU as well. Without
      it torch asks the CUDA runtime, which caches.
    """
    if torch.device(device).type != "cpu":
        yield
        return
    torch.set_flush_denormal(True)
    nvml = os.environ.pop(NVML_CHECK, None)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)
        if nvml is not None:
            os.environ[NVML_CHECK] = nvml


def compile_loss(model: nn.Module) -> None:
    """Replace ``model.loss`` by its ``torch.compile``d version, in place (the weights and their
    state-dict keys stay those of ``model``)."""
    model.loss = torch.compile(model.loss)
