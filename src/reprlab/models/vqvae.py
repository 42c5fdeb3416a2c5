"""Vector-quantised autoencoder (van den Oord et al., "Neural Discrete Representation
Learning", NeurIPS 2017): each latent vector (the channel axis at every spatial position, or
the whole vector of an MLP latent) is replaced by its nearest codebook entry, with the
straight-through gradient; the loss is eq. 3, rec + ||sg(z_e) - e||^2 + beta ||z_e - sg(e)||^2,
or with ``ema`` the codebook follows exponential moving averages of its assigned vectors
(appendix A.1) and the second term is dropped. Codes start uniform in [-1/K, 1/K] as in the
paper's code, or (``init='data'``, the default) as latent vectors of the first training batch,
which avoids most dead codes."""

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from reprlab.models.autoencoder import Autoencoder, images_of
from reprlab.models.base import Code, LossOutput
from reprlab.models.config import ModelConfig
from reprlab.models.vqvae_config import VQConfig


class VectorQuantizer(nn.Module):
    """Nearest-neighbour quantisation of [N, D, ...] along D against ``size`` codes."""

    def __init__(self, size: int, dim: int, cfg: VQConfig) -> None:
        super().__init__()
        self.size, self.dim, self.ema, self.decay, self.eps = size, dim, cfg.ema, cfg.decay, cfg.eps
        self.data_init = cfg.init == "data"
        self.register_buffer("initialized", torch.tensor(not self.data_init))
        codes = torch.empty(size, dim).uniform_(-1 / size, 1 / size)
        if self.ema:
            self.register_buffer("codebook", codes)
            self.register_buffer("cluster_size", torch.zeros(size))
            self.register_buffer("code_sum", codes.clone())
        else:
            self.codebook = nn.Parameter(codes)

    def nearest(self, flat: Tensor) -> Tensor:
        """Index of the nearest code of each row of ``flat`` [M, D] (squared Euclidean)."""
        codes = self.codebook
        distances = (
            flat.pow(2).sum(1, keepdim=True) - 2 * flat @ codes.t() + codes.pow(2).sum(1)[None]
        )
        return distances.argmin(1)

    def forward(self, z_e: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """``(z_q, indices, one_hot_counts)``: quantised codes shaped like ``z_e`` (no
        straight-through yet), indices [N, ...] and how often each code was picked."""
        flat = z_e.movedim(1, -1).reshape(-1, self.dim)
        if self.training and not bool(self.initialized):
            self._init_from(flat.detach())
        indices = self.nearest(flat.detach())
        counts = torch.bincount(indices, minlength=self.size).to(flat.dtype)
        if self.ema and self.training:
            self._ema_update(flat.detach(), indices, counts)
        z_q = F.embedding(indices, self.codebook)
        shape = (z_e.shape[0], *z_e.shape[2:], self.dim)
        return z_q.reshape(shape).movedim(-1, 1), indices.reshape(shape[:-1]), counts

    @torch.no_grad()
    def _init_from(self, flat: Tensor) -> None:
        """Codes := randomly chosen latent vectors of the first training batch."""
        rows = torch.randint(len(flat), (self.size,), device=flat.device)
        self.codebook.data.copy_(flat[rows])
        if self.ema:
            self.code_sum.copy_(flat[rows])
            self.cluster_size.fill_(1.0)
        self.initialized.fill_(True)

    @torch.no_grad()
    def _ema_update(self, flat: Tensor, indices: Tensor, counts: Tensor) -> None:
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        sums = torch.zeros_like(self.code_sum).index_add_(0, indices, flat)
        self.code_sum.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        n = self.cluster_size.sum()
        smoothed = (self.cluster_size + self.eps) / (n + self.size * self.eps) * n  # Laplace
        self.codebook.copy_(self.code_sum / smoothed[:, None])


def perplexity(counts: Tensor) -> Tensor:
    """exp(entropy) of the codes' empirical distribution: 1 if one code is used, K if K are
    used equally."""
    p = counts / counts.sum().clamp_min(1)
    return torch.exp(-(p * torch.log(p.clamp_min(1e-12))).sum())


class VQVAE(Autoencoder):
    """Autoencoder with a quantised latent; embeddings are the quantised codes."""

    def __init__(self, cfg: ModelConfig, image_shape: tuple[int, int, int]) -> None:
        super().__init__(cfg, image_shape)
        self.quantizer = VectorQuantizer(cfg.vq.codebook_size, self.latent_shape[0], cfg.vq)
        self.commitment = cfg.vq.commitment

    def _quantize(self, data: Tensor):
        z_e = self.encoder(data)
        z_q, indices, counts = self.quantizer(z_e)
        return z_e, z_q, indices, counts

    def encode(self, x: Tensor) -> Code:
        z_e, z_q, indices, _ = self._quantize(self.to_data(x))
        return Code(z=z_e + (z_q - z_e).detach(), indices=indices)

    def loss(self, batch) -> LossOutput:
        data = self.to_data(images_of(batch))
        z_e, z_q, _, counts = self._quantize(data)
        z = z_e + (z_q - z_e).detach()  # straight-through estimator
        rec = self.reconstruction_loss(z, data)
        commitment = F.mse_loss(z_e, z_q.detach())
        total = rec + self.commitment * commitment
        terms = {"reconstruction": rec.detach(), "commitment": commitment.detach()}
        if not self.quantizer.ema:
            codebook = F.mse_loss(z_q, z_e.detach())
            total = total + codebook
            terms["codebook"] = codebook.detach()
        terms["usage"] = (counts > 0).float().mean()
        terms["perplexity"] = perplexity(counts)
        return LossOutput(total, terms)
