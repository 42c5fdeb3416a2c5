"""The interface every model shares: ``encode``, ``embed``, ``decode`` and ``loss``."""

from dataclasses import dataclass, field
from typing import ClassVar

import torch
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
    """Base class: inputs are NCHW images in [0, 1].

    Capabilities are declared on the class (as scikit-learn's mixins do), never probed:
    ``has_decoder`` (``decode(z)`` maps codes back to images), ``has_posterior`` (``encode``
    gives the ``mean`` and ``logvar`` of a Gaussian q(z|x), so codes can be sampled) and
    ``has_prior`` (``sample_prior(n, generator)`` draws codes from p(z)).
    """

    has_decoder: ClassVar[bool] = False
    has_posterior: ClassVar[bool] = False
    has_prior: ClassVar[bool] = False

    def encode(self, x: Tensor) -> Code:
        raise NotImplementedError

    def embed(self, x: Tensor, sample: bool = False) -> Tensor:
        """The representation, [N, D]: the flattened deterministic code by default."""
        return self.encode(x).z.flatten(1)

    def decode(self, z: Tensor) -> Tensor:
        raise NotImplementedError(f"{type(self).__name__} has no decoder")

    def sample_prior(self, n: int, generator: torch.Generator | None = None) -> Tensor:
        """``n`` codes drawn from the prior p(z), [n, D] (models with ``has_prior``)."""
        raise NotImplementedError(f"{type(self).__name__} has no prior to sample")

    def loss(self, batch) -> LossOutput:
        raise NotImplementedError

    def forward(self, x: Tensor) -> Tensor:
        return self.embed(x)
