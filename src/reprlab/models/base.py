"""The interface every model shares: ``encode``, ``embed``, ``decode`` and ``loss``."""

from dataclasses import dataclass, field

from torch import Tensor, nn


@dataclass
class Code:
    """What ``encode`` returns: ``z`` is the code the decoder reads (sampled for a VAE in
    training, quantised for a VQ-VAE); ``mean``/``logvar`` and ``indices`` where the model has
    them."""

    z: Tensor
    mean: Tensor | None = None
    logvar: Tensor | None = None
    indices: Tensor | None = None


@dataclass
class LossOutput:
    """``total`` is what the optimiser minimises; ``terms`` are named, detached diagnostics
    (scalars averaged over the batch)."""

    total: Tensor
    terms: dict[str, Tensor] = field(default_factory=dict)


class RepresentationModel(nn.Module):
    """Base class: inputs are NCHW images in [0, 1]."""

    def encode(self, x: Tensor) -> Code:
        raise NotImplementedError

    def embed(self, x: Tensor, sample: bool = False) -> Tensor:
        """The representation, [N, D]: the flattened deterministic code by default."""
        return self.encode(x).z.flatten(1)

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no decoder")

    def loss(self, batch) -> LossOutput:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.embed(x)
