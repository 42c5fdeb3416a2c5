"""Device settings of a fit: channels_last for conv models on a GPU, cuDNN autotuning, and the
optional ``torch.compile`` of the model's loss.

channels_last (NHWC) lets cuDNN pick its fastest convolution kernels, above all under bf16
(PyTorch's "(beta) Channels Last Memory Format" tutorial); ``cudnn.benchmark`` times the
candidate algorithms once per input shape, which pays off when every batch has one shape.
"""

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


def compile_loss(model: nn.Module) -> None:
    """Replace ``model.loss`` by its ``torch.compile``d version, in place (the weights and their
    state-dict keys stay those of ``model``)."""
    model.loss = torch.compile(model.loss)
