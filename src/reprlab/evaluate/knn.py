"""Exact k nearest neighbours, blocked so memory stays bounded.

L2 ranks candidates by ``||x||^2 - 2 q.x`` (``||q||^2`` is constant per query, so leaving it
out makes clamping unnecessary), one matrix product per block, on data centred at its mean
so that the expanded form loses few digits, keeps ``k + margin`` candidates
per query with `torch.topk`, then recomputes the candidates' distances exactly as ``||q - x||`` and
re-sorts, so rounding in the expanded form cannot misorder true neighbours. L1 uses blocked
``torch.cdist(p=1)``. Distances returned are Euclidean (not squared) or Manhattan.
"""

import numpy as np
import torch
from torch import Tensor

from reprlab.errors import ConfigError

METRICS = ("l2", "l1")
DEFAULT_MEMORY_BUDGET = 512 * 2**20  # bytes of scratch per block


def _as_tensor(a, dtype: torch.dtype) -> Tensor:
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    return a.detach().to(dtype).reshape(len(a), -1).contiguous()


def _block_sizes(n_queries: int, n_data: int, dim: int, width: int, budget: int) -> tuple:
    """Query-block and data-block sizes whose ``[B, C]`` scores and ``[B, width, D]`` exact
    recomputation fit in ``budget`` bytes (4-byte floats, with room for topk's copy)."""
    data_block = n_data
    rows = budget // (8 * n_data + 4 * width * (dim + 2))
    if rows < 64:  # very many data points: split the data too and merge partial top-k
        rows = 64
        data_block = max(width, (budget // 64 - 4 * width * (dim + 2)) // 8)
    return max(1, min(rows, n_queries)), min(data_block, n_data)


def knn(
    x,
    k: int,
    metric: str = "l2",
    queries=None,
    *,
    dtype: torch.dtype = torch.float32,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    margin: int | None = None,
) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest rows of ``x`` to each query: ``(distances [Q, k], indices [Q, k])``,
    nearest first. ``x`` and ``queries`` are arrays or tensors ``[N, ...]`` (flattened to rows).

    With ``queries=None`` the queries are ``x`` itself and each point is excluded from its own
    neighbours (by index; exact duplicates elsewhere still count). ``metric`` is ``'l2'``
    (Euclidean) or ``'l1'`` (Manhattan). Scratch memory stays near ``memory_budget`` bytes.
    ``margin`` extra candidates (default ``max(8, k // 16)``) are re-ranked exactly.
    """
    if metric not in METRICS:
        raise ConfigError(f"unknown knn metric {metric!r}; use one of {', '.join(METRICS)}")
    data = _as_tensor(x, dtype)
    exclude_self = queries is None
    q = data if exclude_self else _as_tensor(queries, dtype).to(data.device)
    n = len(data) - int(exclude_self)
    if not 1 <= k <= n:
        raise ConfigError(f"knn needs 1 <= k <= {n} (the number of candidates), got k={k}")
    if q.shape[1] != data.shape[1]:
        raise ConfigError(f"queries have {q.shape[1]} features but the data has {data.shape[1]}")
    width = k if margin == 0 else min(n, k + (max(8, k // 16) if margin is None else margin))
    rows, cols = _block_sizes(len(q), len(data), data.shape[1], width, memory_budget)
    norms = None
    if metric == "l2":  # distances are translation invariant; centring keeps the norms small
        centre = data.mean(0, dtype=torch.float64).to(dtype)
        data = data - centre
        q = data if exclude_self else q - centre
        norms = data.pow(2).sum(1)

    out_d = torch.empty(len(q), k, dtype=dtype, device=data.device)
    out_i = torch.empty(len(q), k, dtype=torch.long, device=data.device)
    for start in range(0, len(q), rows):
        qb = q[start : start + rows]
        best_s = best_i = None
        for c0 in range(0, len(data), cols):
            block = data[c0 : c0 + cols]
            if metric == "l2":  # ranking score: ||x||^2 - 2 q.x  (+ ||q||^2 is constant)
                scores = torch.addmm(norms[c0 : c0 + cols][None], qb, block.T, alpha=-2)
            else:
                scores = torch.cdist(qb, block, p=1)
            if exclude_self:
                r = torch.arange(start, start + len(qb), device=data.device)
                inside = (r >= c0) & (r < c0 + len(block))
                scores[inside.nonzero()[:, 0], r[inside] - c0] = float("inf")
            s, i = torch.topk(scores, min(width, len(block)), dim=1, largest=False, sorted=False)
            i += c0
            if best_s is not None:
                s, i = torch.cat([best_s, s], 1), torch.cat([best_i, i], 1)
                s, j = torch.topk(s, min(width, s.shape[1]), dim=1, largest=False, sorted=False)
                i = torch.gather(i, 1, j)
            best_s, best_i = s, i
        best_i = best_i.sort(dim=1).values  # ties in distance then break by lower index
        exact, order = torch.sort(_exact(qb, data, best_i, metric), dim=1, stable=True)
        out_d[start : start + len(qb)] = exact[:, :k]
        out_i[start : start + len(qb)] = torch.gather(best_i, 1, order[:, :k])
    return out_d, out_i


def _exact(queries: Tensor, data: Tensor, indices: Tensor, metric: str, chunk: int = 8) -> Tensor:
    """Distances from each query to its candidate rows, computed directly as ``|q - x|``, a few
    queries at a time in one reused buffer (the gather is memory-bound; this keeps it in cache)."""
    out = torch.empty(indices.shape, dtype=data.dtype, device=data.device)
    buffer = torch.empty(
        chunk * indices.shape[1], data.shape[1], dtype=data.dtype, device=data.device
    )
    for s in range(0, len(queries), chunk):
        rows = indices[s : s + chunk]
        diff = torch.index_select(data, 0, rows.reshape(-1), out=buffer[: rows.numel()])
        diff = diff.view(*rows.shape, -1).sub_(queries[s : s + chunk, None, :])
        out[s : s + chunk] = torch.linalg.vector_norm(diff, ord=2 if metric == "l2" else 1, dim=2)
    return out
