"""Backbones of the ``embedder`` family (`reprlab.models.embedder`): MLP, small conv net, and
torchvision's ResNet-18 with its classifier replaced by an embedding layer (seed 003: 1 024
dimensions).

Each maps NCHW images in [0, 1] to [N, embedding_dim].
"""

import math
from pathlib import Path

import torch
from torch import Tensor, nn

from reprlab.errors import ConfigError, ReprlabError

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


class MLPEmbedder(nn.Module):
    """Flatten, then ``Linear -> ReLU`` per hidden width, then a linear embedding layer."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        embedding_dim: int = 64,
        hidden: tuple[int, ...] = (256, 256),
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = math.prod(input_shape)
        for h in hidden:
            layers += [nn.Linear(width, h), nn.ReLU()]
            width = h
        layers.append(nn.Linear(width, embedding_dim))
        self.net = nn.Sequential(*layers)
        self.embedding_dim = embedding_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class ConvEmbedder(nn.Module):
    """``Conv3x3 -> BatchNorm -> ReLU -> MaxPool2`` per channel width (pooling stops at 1x1),
    global average pooling, then a linear embedding layer."""

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        embedding_dim: int = 64,
        channels: tuple[int, ...] = (32, 64, 128),
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        width, side = input_shape[0], min(input_shape[1:])
        for c in channels:
            layers += [nn.Conv2d(width, c, 3, padding=1), nn.BatchNorm2d(c), nn.ReLU()]
            if side >= 2:
                layers.append(nn.MaxPool2d(2))
                side //= 2
            width = c
        layers += [nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(width, embedding_dim)]
        self.net = nn.Sequential(*layers)
        self.embedding_dim = embedding_dim

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def resnet18_weights_path() -> Path:
    """Where torch hub caches torchvision's ImageNet ResNet-18 weights."""
    from torchvision.models import ResNet18_Weights  # lazy: only resnet18 needs torchvision

    name = Path(ResNet18_Weights.IMAGENET1K_V1.url).name
    return Path(torch.hub.get_dir()) / "checkpoints" / name


def load_resnet18_imagenet(download: bool = False) -> dict[str, Tensor]:
    """The ImageNet ResNet-18 state dict from torch hub's cache, downloading it if asked."""
    from torchvision.models import ResNet18_Weights  # lazy: only resnet18 needs torchvision

    path = resnet18_weights_path()
    if path.is_file():
        return torch.load(path, map_location="cpu", weights_only=True)
    if not download:
        raise ConfigError(
            f"ResNet-18 ImageNet weights are not in torch hub's cache ({path}); "
            "allow the download (--download, model.metric.download=true), place the file "
            "there, or ask for random initialisation (--no-pretrained, "
            "model.metric.pretrained=false)"
        )
    try:
        return ResNet18_Weights.IMAGENET1K_V1.get_state_dict(progress=False)
    except Exception as exc:  # network errors come in many types
        raise ReprlabError(
            f"could not download ResNet-18 ImageNet weights ({exc}); put "
            f"{ResNet18_Weights.IMAGENET1K_V1.url} at {path}, "
            "or ask for random initialisation (--no-pretrained, model.metric.pretrained=false)"
        ) from None


class ResNet18Embedder(nn.Module):
    """torchvision ResNet-18 whose final ``fc`` is a ``Linear(512, embedding_dim)``.

    ``pretrained=True`` loads the ImageNet weights (from torch hub's cache, or downloaded when
    ``download=True``; otherwise a `ConfigError` says what to do) and normalises inputs with
    the ImageNet mean and std; ``pretrained=False`` is random initialisation. Grey images are
    repeated to three channels.
    """

    def __init__(
        self,
        input_shape: tuple[int, int, int],
        embedding_dim: int = 1024,
        pretrained: bool = True,
        download: bool = False,
    ) -> None:
        super().__init__()
        from torchvision.models import resnet18  # lazy: only resnet18 needs torchvision

        if input_shape[0] not in (1, 3):
            raise ConfigError(f"ResNet-18 takes 1 or 3 image channels, got {input_shape[0]}")
        self.net = resnet18(weights=None)
        if pretrained:
            self.net.load_state_dict(load_resnet18_imagenet(download))
        self.net.fc = nn.Linear(self.net.fc.in_features, embedding_dim)
        self.pretrained, self.embedding_dim = pretrained, embedding_dim
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), False)

    def forward(self, x: Tensor) -> Tensor:
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        if self.pretrained:
            x = (x - self.mean) / self.std
        return self.net(x)
