"""Exact k nearest neighbours, blocked so memory stays bounded.

Each block of queries is scored against a block of data points: for L2 by the ranking score
``||x||^2 - 2 q.x`` (``||q||^2`` is constant per query): a bare matrix product of ``-2 q``
with data centred at its mean, so that the expanded form loses few digits, to which the
selection adds ``||x||^2``; for L1 by ``torch.cdist(p=1)``, or on uint8 rows (images) by the
exact integer kernel of `reprlab.evaluate.l1_kernel`; cosine is L2 on rows scaled to unit
length. A compiled streaming selection (`reprlab.evaluate.knn_kernels`) keeps each
query's ``k + margin`` best scores, and the survivors' distances are then recomputed from the
original coordinates (differences in the inputs' precision, sums in float64) and sorted, so
rounding in the expanded form cannot misorder true neighbours. Distances returned are
Euclidean (not squared), Manhattan or cosine (``1 - cos``); ties in distance go to the lower
index among the survivors. One limit: where more than ``margin`` distinct points tie exactly
at the k-th distance, which of them survive the float32 screen follows its rounding
(duplicated rows, and L1 on uint8 rows, whose screen is exact, are not affected). Inputs on
a GPU, or ``device=`` naming one, are served there by
`reprlab.evaluate.knn_device` (the same answer from matrix products and ``torch.topk``).
"""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch
from torch import Tensor

from reprlab.data.device import resolve_device
from reprlab.evaluate import l1_kernel
from reprlab.evaluate.knn_device import knn_on_device
from reprlab.evaluate.knn_inputs import METRICS, prepare_inputs
from reprlab.evaluate.knn_kernels import (
    cut,
    exact_distances,
    order_candidates,
    pairs_by_data_point,
    select_smallest,
)

__all__ = ["DEFAULT_MEMORY_BUDGET", "METRICS", "knn"]

DEFAULT_MEMORY_BUDGET = 512 * 2**20  # bytes of scratch per block


def _block_sizes(n_queries: int, n_data: int, width: int, budget: int) -> tuple:
    """Query-block and data-block sizes whose ``[B, C]`` scores (4-byte floats) and per-query
    selection buffers (``3 * width`` values and indices) fit in ``budget`` bytes."""
    data_block = n_data
    selection = 3 * width * 12
    rows = budget // (4 * n_data + selection)
    if rows < 64:  # very many data points: split the data too and merge partial selections
        rows = 64
        data_block = max(width, budget // 64 // 4 - selection // 4)
    return max(1, min(rows, n_queries)), min(data_block, n_data)


def _device(device, x, queries) -> torch.device:
    """``device`` checked (`resolve_device`), or else the first input tensor's device that is
    not the CPU, or else the CPU."""
    if device is not None:
        return resolve_device(device)
    on = [a.device for a in (x, queries) if isinstance(a, Tensor) and a.device.type != "cpu"]
    return on[0] if on else torch.device("cpu")


def _uint8_rows(a) -> np.ndarray | None:
    """``a`` as a numpy ``[N, d]`` uint8 array when it holds uint8 values, else None."""
    if a.dtype not in (np.uint8, torch.uint8):
        return None
    a = a.detach().cpu().numpy() if isinstance(a, Tensor) else np.asarray(a)
    return a.reshape(len(a), -1)


def knn(
    x,
    k: int,
    metric: str = "l2",
    queries=None,
    *,
    dtype: torch.dtype = torch.float32,
    memory_budget: int = DEFAULT_MEMORY_BUDGET,
    margin: int | None = None,
    device: str | torch.device | None = None,
) -> tuple[Tensor, Tensor]:
    """The ``k`` nearest rows of ``x`` to each query: ``(distances [Q, k], indices [Q, k])``,
    nearest first. ``x`` and ``queries`` are arrays or tensors ``[N, ...]`` (flattened to rows).

    With ``queries=None`` the queries are ``x`` itself and each point is excluded from its own
    neighbours (by index; exact duplicates elsewhere still count). ``metric`` is ``'l2'``
    (Euclidean), ``'l1'`` (Manhattan) or ``'cosine'`` (``1 - cos``, scikit-learn's cosine
    distance: the L2 neighbours of the rows scaled to unit length, whose distance is
    ``||a - b||^2 / 2``). Scratch memory stays near ``memory_budget`` bytes. ``margin`` extra
    candidates (default ``max(8, k // 16)``) are re-ranked exactly, from the float64
    coordinates when the inputs are float64 (``dtype`` sets the screen's precision and that of
    the distances returned).

    ``device`` (default: that of the inputs) is where the work is done and where the results
    are returned: on a GPU by `reprlab.evaluate.knn_device.knn_on_device`, on the CPU here.
    """
    device = _device(device, x, queries)
    if device.type != "cpu":
        return knn_on_device(x, k, metric, queries, device=device, dtype=dtype,
                             memory_budget=memory_budget, margin=margin)  # fmt: skip
    inputs = prepare_inputs(x, k, metric, queries, dtype, margin)
    exact_data, exact_q, data, q, exclude_self, width = inputs
    rows, cols = _block_sizes(len(q), len(data), width, memory_budget)
    scored_data, scored_q = data, q
    bias = np.zeros(cols, dtype=data.numpy().dtype)  # per data point, added to the scores
    if metric != "l1":  # distances are translation invariant; centring keeps the norms small
        centre = data.mean(0)
        scored_data = data - centre
        scored_q = scored_data if exclude_self else q - centre
        bias = torch.linalg.vector_norm(scored_data, dim=1).pow_(2).numpy()
        doubled = torch.empty(min(rows, len(q)), data.shape[1], dtype=dtype)

    sad = None  # uint8 rows: exact integer L1 scores from the SAD kernel
    if metric == "l1" and dtype == torch.float32 and l1_kernel.usable(data.shape[1]):
        raw_x, raw_q = _uint8_rows(x), None if exclude_self else _uint8_rows(queries)
        if raw_x is not None and (exclude_self or raw_q is not None):
            sad_data = l1_kernel.padded(raw_x)
            sad = (sad_data, sad_data if exclude_self else l1_kernel.padded(raw_q))

    scratch = torch.empty(rows * cols, dtype=dtype)
    out_d = np.empty((len(q), k), dtype=np.float64)
    out_i = np.empty((len(q), k), dtype=np.int64)
    threads = torch.get_num_threads()
    with ThreadPoolExecutor(threads) as pool:
        selection = _Selection(pool, threads, rows, width, scratch.numpy().dtype)
        for start in range(0, len(q), rows):
            qb = scored_q[start : start + rows]
            selection.reset(len(qb), start if exclude_self else None)
            if metric != "l1":  # ranking score: ||x||^2 - 2 q.x  (+ ||q||^2 is constant)
                qb = torch.mul(qb, -2, out=doubled[: len(qb)])
            for c0 in range(0, len(data), cols):
                block = scored_data[c0 : c0 + cols]
                if sad is not None:
                    scores = scratch[: len(qb) * len(block)].view(len(qb), len(block))
                    selection.l1_scores(sad, start, c0, scores.numpy())
                elif metric == "l1":
                    scores = torch.cdist(qb, block, p=1)
                else:
                    scores = scratch[: len(qb) * len(block)].view(len(qb), len(block))
                    torch.mm(qb, block.T, out=scores)
                selection.add(scores.numpy(), bias[c0 : c0 + len(block)], c0)
            d, i = selection.rerank(exact_q[start : start + rows], exact_data, metric, k)
            out_d[start : start + rows], out_i[start : start + rows] = d, i
    if metric == "cosine":
        out_d = out_d * out_d / 2
    return torch.from_numpy(out_d).to(dtype), torch.from_numpy(out_i)


class _Selection:
    """The running ``width`` best candidates of one block of queries, in buffers reused across
    blocks; the compiled kernels release the GIL, so rows are split across a thread pool."""

    def __init__(self, pool: ThreadPoolExecutor, threads: int, rows: int, width: int, dtype):
        self.pool, self.threads, self.width = pool, threads, width
        self.values = np.empty((rows, 3 * width), dtype=dtype)
        self.indices = np.empty((rows, 3 * width), dtype=np.int64)

    def reset(self, rows: int, first_self: int | None) -> None:
        """Start a block of ``rows`` queries; ``first_self``: the data index of the first query
        when the queries are the data (each then skips itself), else None."""
        self.counts = np.zeros(rows, dtype=np.int64)
        if first_self is None:
            self.own = np.full(rows, -1)
        else:
            self.own = np.arange(first_self, first_self + rows)

    def add(self, scores: np.ndarray, bias: np.ndarray, column_offset: int) -> None:
        """Merge the scores ``bias + scores`` of the data points from ``column_offset`` on."""

        def work(a, b):
            v, i, c = self.values[a:b], self.indices[a:b], self.counts[a:b]
            select_smallest(scores[a:b], bias, column_offset, self.own[a:b], self.width, v, i, c)

        self._in_threads(work, len(scores))

    def l1_scores(self, sad: tuple, row: int, column: int, out: np.ndarray) -> None:
        """Exact L1 scores of padded uint8 queries ``sad[1][row:]`` against data
        ``sad[0][column:]`` into ``out`` (its shape sets the block)."""
        data = sad[0][column : column + out.shape[1]]

        def work(a, b):
            l1_kernel.l1_distances(sad[1][row + a : row + b], data, out[a:b])

        self._in_threads(work, len(out))

    def _in_threads(self, work, rows: int) -> None:
        """``work(a, b)`` on row ranges that split ``rows`` evenly, four per thread, taken by
        whichever thread is free (a thread slowed by other processes then holds up less)."""
        edges = np.linspace(0, rows, 4 * self.threads + 1).astype(int)
        list(self.pool.map(work, edges[:-1], edges[1:]))

    def rerank(self, queries, data, metric: str, k: int) -> tuple:
        """The ``k`` nearest by exact distance (from ``data`` and ``queries``, the uncentred
        coordinates, summed in float64), ties to the lower index: float64 distances and
        indices, ``[rows, k]`` arrays."""
        rows, width = len(queries), self.width
        values, indices, counts = self.values[:rows], self.indices[:rows], self.counts
        # every row has >= width candidates; cut them to exactly width
        self._in_threads(lambda a, b: cut(values[a:b], indices[a:b], counts[a:b], width), rows)
        start, pair_query, pair_slot = pairs_by_data_point(indices, counts, len(data))
        exact = np.empty((rows, width), dtype=np.float64)
        q, x = np.asarray(queries), np.asarray(data)
        edges = np.searchsorted(start, np.linspace(0, start[-1], 4 * self.threads + 1))
        edges[-1] = len(data)

        def work(j):
            exact_distances(
                q, x, start, pair_query, pair_slot, edges[j], edges[j + 1], metric == "l1", exact
            )

        list(self.pool.map(work, range(len(edges) - 1)))
        distances = np.empty((rows, k), dtype=np.float64)
        nearest = np.empty((rows, k), dtype=np.int64)
        self._in_threads(
            lambda a, b: order_candidates(exact, indices, a, b, distances, nearest), rows
        )
        return distances, nearest
