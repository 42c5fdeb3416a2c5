"""Metric-learning losses under a multi-process strategy (DDP): every process computes the
loss of the whole global batch, as one process would.

`fit` gives each of ``world`` processes the rows ``rank::world`` of the same global batch. A
Magnet, RepMet, triplet or proxy-anchor loss is not a sum over examples (cluster statistics,
mining and proxies look at the whole batch), so `whole_batch` gathers the shards back into the
global batch; only the local shard carries gradient, multiplied by ``world`` on its way back.
DDP averages the processes' gradients: for the network, each process holds its shard's part
of the full-batch gradient, so the mean of ``world`` times the parts is their sum, the
full-batch gradient; the objective's own parameters (RepMet representatives, proxies) see the
whole batch in every process, so their mean is already the full-batch gradient. Every process
also sees the same per-example losses, which keeps the Magnet samplers identical.
"""

import torch
import torch.distributed as dist
from torch import Tensor


def world_size() -> int:
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


def whole_batch(shard: Tensor) -> Tensor:
    """The global batch whose rows ``rank::world`` this process holds, gathered from all
    processes (shards may differ in length by one); only this process's rows carry gradient,
    scaled by ``world`` (see the module's docstring)."""
    world = world_size()
    if world == 1:
        return shard
    length = torch.tensor([len(shard)], device=shard.device)
    lengths = [torch.zeros_like(length) for _ in range(world)]
    dist.all_gather(lengths, length)
    total, longest = sum(int(n) for n in lengths), max(int(n) for n in lengths)
    local = shard.view_as(shard)
    if local.requires_grad:
        local.register_hook(lambda grad: grad * world)
    padding = shard.new_zeros((longest - len(shard), *shard.shape[1:]))
    padded = torch.cat([local, padding]) if len(padding) else local
    parts = [torch.empty_like(padded) for _ in range(world)]
    dist.all_gather(parts, padded.detach().contiguous())
    parts[dist.get_rank()] = padded
    # row j of rank r is global row r + world * j; padding rows land past `total`
    return torch.stack(parts, 1).reshape(longest * world, *shard.shape[1:])[:total]


def broadcast(value, fabric):
    """``value`` as process 0 has it, on every process (k-means on another device may differ
    in the last bits between processes)."""
    return value if fabric is None or fabric.world_size == 1 else fabric.broadcast(value, src=0)
