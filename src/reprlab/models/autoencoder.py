"""Deterministic autoencoders: plain (``ae``), denoising (``dae``, seed 001) and sparse
(``sparse-l1``, ``sparse-kl``; Ng, "Sparse autoencoder", CS294A notes, 2011, section 3)."""

import math

import torch
from torch import Tensor

from reprlab.models.architectures import build_architecture
from reprlab.models.base import Code, LossOutput, RepresentationModel
from reprlab.models.blocks import GaussianNoise
from reprlab.models.config import ModelConfig
from reprlab.models.reconstruction import build_objective


def images_of(batch) -> Tensor:
    """The images of a batch: ``x`` itself or the first item of ``(x, y, ...)``."""
    return batch[0] if isinstance(batch, (tuple, list)) else batch


class Autoencoder(RepresentationModel):
    """Encoder, decoder and reconstruction objective: minimises rec(decode(encode(x)), x).

    The decoder's output activation sets the space the loss compares in (``ModelConfig``):
    ``tanh`` works on 2x - 1 in [-1, 1], the others on x in [0, 1].
    """

    code_multiplier = 1
    has_decoder = True

    def __init__(self, cfg: ModelConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__()
        arch = build_architecture(cfg, image_shape, self.code_multiplier, self._hidden_noise(cfg))
        self.encoder, self.decoder = arch.encoder, arch.decoder
        self.latent_shape = arch.latent_shape
        self.image_shape = tuple(image_shape)
        self.output = cfg.output
        self.reconstruction = build_objective(cfg, self.image_shape)
        reduction = cfg.reduction if cfg.reduction != "auto" else self.default_reduction
        self.pixels = math.prod(self.image_shape)
        self.rec_divisor = float(self.pixels) if reduction == "mean" else 1.0
        # log |d data / d x| summed over an image: data = 2x - 1 under tanh
        self.data_log_det = self.pixels * math.log(2.0) if self.output == "tanh" else 0.0

    default_reduction = "mean"

    def _hidden_noise(self, cfg: ModelConfig) -> float:
        return 0.0

    # --- spaces -------------------------------------------------------------------------
    def to_data(self, x: Tensor) -> Tensor:
        """Images in [0, 1] -> the space the decoder models."""
        return 2 * x - 1 if self.output == "tanh" else x

    def decoder_mean(self, z: Tensor) -> Tensor:
        """The decoder's output in data space."""
        out = self.decoder(z.reshape(z.shape[0], *self.latent_shape))
        if self.output == "sigmoid":
            return torch.sigmoid(out)
        if self.output == "tanh":
            return torch.tanh(out)
        return out

    def decode(self, z: Tensor) -> Tensor:
        """Images from codes (flat [N, D] or [N, *latent_shape]), in [0, 1] unless linear."""
        out = self.decoder_mean(z)
        return (out + 1) / 2 if self.output == "tanh" else out

    def reconstruct(self, x: Tensor) -> Tensor:
        return self.decode(self.encode(x).z)

    # --- objective ----------------------------------------------------------------------
    def encode(self, x: Tensor) -> Code:
        return self.encode_data(self.to_data(x))

    def encode_data(self, data: Tensor) -> Code:
        """``encode`` of images already mapped to data space by ``to_data``."""
        return Code(z=self.encoder(data))

    def reconstruction_per_image(self, z: Tensor, data: Tensor) -> Tensor:
        """The reconstruction objective of each image (``data`` = ``to_data(x)``), summed over
        its pixels, [N]."""
        return self.reconstruction(self.decoder_mean(z), data)

    def reconstruction_loss(self, z: Tensor, data: Tensor) -> Tensor:
        """The batch's reconstruction term: the mean per-image sum, or per pixel for
        ``reduction='mean'``."""
        if self.rec_divisor == 1.0:
            return self.reconstruction_per_image(z, data).mean()
        return self.reconstruction.pixel_mean(self.decoder_mean(z), data)

    def penalty(self, code: Code) -> dict[str, Tensor]:
        """Extra weighted terms of the objective, each a scalar (none for a plain AE)."""
        return {}

    def loss(self, batch) -> LossOutput:
        data = self.to_data(images_of(batch))
        code = self.encode_data(data)
        rec = self.reconstruction_loss(code.z, data)
        extra = self.penalty(code)
        total = rec + sum(extra.values()) if extra else rec
        terms = {"reconstruction": rec.detach(), **{k: v.detach() for k, v in extra.items()}}
        return LossOutput(total, terms)


class DenoisingAutoencoder(Autoencoder):
    """Reconstructs x from x + N(0, input_sigma^2) noise, with N(0, hidden_sigma^2) noise after
    every block (seed 001: 0.25 and 0.05); all noise is off in eval mode."""

    def __init__(self, cfg: ModelConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(cfg, image_shape)
        self.input_noise = GaussianNoise(cfg.noise.input_sigma)

    def _hidden_noise(self, cfg: ModelConfig) -> float:
        return cfg.noise.hidden_sigma

    def encode(self, x: Tensor) -> Code:
        return self.encode_data(self.to_data(x))

    def encode_data(self, data: Tensor) -> Code:
        """Noise sigma is in image units: under tanh, data = 2x - 1 gets 2 sigma."""
        if self.output == "tanh":
            return Code(z=self.encoder(2 * self.input_noise(data / 2)))
        return Code(z=self.encoder(self.input_noise(data)))


class SparseL1Autoencoder(Autoencoder):
    """Adds weight * sum_j |z_j| (per image, averaged over the batch) to the objective."""

    def __init__(self, cfg: ModelConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(cfg, image_shape)
        self.weight = cfg.sparsity.weight

    def penalty(self, code: Code) -> dict[str, Tensor]:
        return {"sparsity": self.weight * code.z.flatten(1).abs().sum(1).mean()}


def kl_sparsity(z: Tensor, target: float, eps: float) -> Tensor:
    """sum_j KL(Bernoulli(target) || Bernoulli(rho_hat_j)), rho_hat_j = mean over the batch of
    sigmoid(z_j), clamped to [eps, 1 - eps] (Ng 2011, eq. for the sparsity penalty)."""
    rho_hat = torch.sigmoid(z.flatten(1)).mean(0).clamp(eps, 1 - eps)
    rho = target
    kl = rho * torch.log(rho / rho_hat) + (1 - rho) * torch.log((1 - rho) / (1 - rho_hat))
    return kl.sum()


class SparseKLAutoencoder(Autoencoder):
    """Adds weight * sum_j KL(rho || rho_hat_j), rho_hat_j the mean over the BATCH of the unit's
    activation squashed into (0, 1) by a sigmoid. The decoder reads the unsquashed code, so the
    sigmoid never blocks its gradients (the failure seed 001 reports)."""

    def __init__(self, cfg: ModelConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(cfg, image_shape)
        self.weight, self.target, self.eps = (
            cfg.sparsity.weight,
            cfg.sparsity.target,
            cfg.sparsity.eps,
        )

    def penalty(self, code: Code) -> dict[str, Tensor]:
        return {"sparsity": self.weight * kl_sparsity(code.z, self.target, self.eps)}
