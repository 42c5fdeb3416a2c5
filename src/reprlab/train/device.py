"""Device settings of a fit: channels_last for conv models on a GPU, cuDNN autotuning, and the
optional ``torch.compile`` of the model's loss.

channels_last (NHWC) lets cuDNN pick its fastest convolution kernels, above all under bf16
(PyTorch's "(beta) Channels Last Memory Format" tutorial); ``cudnn.benchmark`` times the
candidate algorithms once per input shape, which pays off when every batch has one shape.
"""

import contextlib

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


@contextlib.contextmanager
def denormals_flushed(device: torch.device):
    """On the CPU, flush denormal floats to zero while training (``torch.set_flush_denormal``,
    in the calling thread, as GPUs do), then restore torch's default (off). Weights and Adam
    moments that decay towards zero (seed 004's linear model with L1 and weight decay) reach
    denormals, on which x86 arithmetic runs many times slower: that model's epochs slowed from
    3 to 18 s over 14 epochs, and 200 steps from its checkpoint take 4x longer without it."""
    flush = torch.device(device).type == "cpu" and torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if flush:
            torch.set_flush_denormal(False)


def compile_loss(model: nn.Module) -> None:
    """Replace ``model.loss`` by its ``torch.compile``d version, in place (the weights and their
    state-dict keys stay those of ``model``)."""
    model.loss = torch.compile(model.loss)
