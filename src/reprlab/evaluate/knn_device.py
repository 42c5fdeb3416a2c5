"""Exact k nearest neighbours on a device (a GPU; the CPU too when asked), the counterpart of
`reprlab.evaluate.knn` built from torch operations alone.

Blocks of queries stream through one matrix product per block, the L2 ranking score
``||x||^2 - 2 q.x`` of data centred at its mean (cosine: the same on rows scaled to unit
length), or through ``torch.cdist(p=1)`` for L1, and ``torch.topk`` keeps each query's
``k + margin`` smallest scores (data split into column blocks too when a block would not fit,
their selections merged). A tie in score across the cut is re-selected by a stable sort, so
that equal points go to the lower index. The survivors are re-ranked by their exact distances,
coordinate differences in the inputs' precision summed in float64, as on the CPU, and sorted
with ties to the lower index. float32 products run at full precision (no TF32) whatever
``torch.set_float32_matmul_precision`` says.
"""

from contextlib import contextmanager

import torch
from torch import Tensor

from reprlab.evaluate.knn_inputs import prepare_inputs

__all__ = ["knn_on_device"]


@contextmanager
def _full_precision():
    """float32 matrix products without TF32 (restored afterwards)."""
    before = torch.get_float32_matmul_precision()
    torch.set_float32_matmul_precision("highest")
    try:
        yield
    finally:
        torch.set_float32_matmul_precision(before)


class _Screen:
    """Ranking scores of query rows against the data, in column blocks of ``cols`` points."""

    def __init__(self, data: Tensor, metric: str, cols: int):
        self.l1, self.cols, self.n = metric == "l1", cols, len(data)
        if self.l1:
            self.data, self.centre, self.bias = data, None, None
        else:  # distances are translation invariant; centring keeps the norms small
            self.centre = data.mean(0)
            self.data = data - self.centre
            self.bias = torch.linalg.vector_norm(self.data, dim=1).pow_(2)

    def queries(self, q: Tensor) -> Tensor:
        """Queries as the scores want them: centred and doubled for L2."""
        return q if self.l1 else (q - self.centre).mul_(-2)

    def block(self, qb: Tensor, c0: int, own: Tensor | None) -> Tensor:
        """Scores ``[len(qb), C]`` of data points ``c0..c0+C-1``; a query's own point (``own``:
        its data index, or None when the queries are not the data) scores +inf."""
        block = self.data[c0 : c0 + self.cols]
        if self.l1:
            scores = torch.cdist(qb, block, p=1)
        else:  # ||x||^2 - 2 q.x  (+ ||q||^2, constant per query)
            scores = torch.addmm(self.bias[c0 : c0 + len(block)], qb, block.T)
        if own is not None:
            rows = torch.arange(len(qb), device=qb.device)
            if len(block) == self.n:  # one block: every query's own point is in it
                scores[rows, own] = torch.inf
            else:
                column = own - c0
                inside = (column >= 0) & (column < len(block))
                scores[rows[inside], column[inside]] = torch.inf
        return scores

    def smallest(self, qb: Tensor, own: Tensor | None, count: int) -> tuple[Tensor, Tensor]:
        """The ``count`` smallest scores of each row and their data indices (``topk``)."""
        values = indices = None
        for c0 in range(0, self.n, self.cols):
            scores = self.block(qb, c0, own)
            v, i = torch.topk(scores, min(count, scores.shape[1]), dim=1, largest=False)
            i += c0
            if values is not None:  # merge with the running selection
                v, i = torch.cat([values, v], 1), torch.cat([indices, i], 1)
                v, at = torch.topk(v, min(count, v.shape[1]), dim=1, largest=False)
                i = i.gather(1, at)
            values, indices = v, i
        return values, indices

    def smallest_stable(self, qb: Tensor, own: Tensor | None, count: int) -> Tensor:
        """The data indices of the ``count`` smallest scores of each row, equal scores to the
        lower index (stable sorts; the running selection precedes later, higher indices)."""
        values = indices = None
        for c0 in range(0, self.n, self.cols):
            v = self.block(qb, c0, own)
            i = torch.arange(c0, c0 + v.shape[1], device=v.device).expand_as(v)
            if values is not None:
                v, i = torch.cat([values, v], 1), torch.cat([indices, i], 1)
            v, at = torch.sort(v, dim=1, stable=True)
            values, indices = v[:, :count], i.gather(1, at[:, :count])
        return indices


def _rerank(q: Tensor, data: Tensor, candidates: Tensor, k: int, l1: bool) -> tuple:
    """The ``k`` nearest of each row's candidates by exact distance (differences in the
    inputs' precision, summed in float64), ties to the lower index: float64 distances (L1 or
    Euclidean) and indices."""
    candidates = candidates.sort(dim=1).values  # index order, so a stable sort breaks ties
    rows = data.index_select(0, candidates.reshape(-1)).view(*candidates.shape, -1)
    diff = rows.sub_(q[:, None, :])
    exact = torch.linalg.vector_norm(diff, ord=1 if l1 else 2, dim=2, dtype=torch.float64)
    exact, order = torch.sort(exact, dim=1, stable=True)
    return exact[:, :k], candidates.gather(1, order[:, :k])


def _block_rows(n_queries: int, n_data: int, width: int, size: int, budget: int) -> tuple:
    """Query rows and data columns per screened block (scores and ``topk``'s output, about
    twice the ``[rows, cols]`` scores), at least 64 rows unless the data are split."""
    rows = budget // (2 * size * n_data + 24 * width)
    cols = n_data
    if rows < 64:
        rows = 64
        cols = max(width + 1, (budget // rows - 24 * width) // (2 * size))
    return max(1, min(rows, n_queries)), min(cols, n_data)


def knn_on_device(
    x,
    k: int,
    metric: str = "l2",
    queries=None,
    *,
    device: str | torch.device = "cuda",
    dtype: torch.dtype = torch.float32,
    memory_budget: int = 512 * 2**20,
    margin: int | None = None,
) -> tuple[Tensor, Tensor]:
    """`reprlab.evaluate.knn.knn` computed on ``device`` with torch operations: the same
    arguments and answer (``(distances [Q, k], indices [Q, k])``, nearest first, ties to the
    lower index, self excluded when ``queries`` is None), returned on ``device``. The inputs
    are copied there; scratch memory on it stays near ``memory_budget`` bytes."""
    device = torch.device(device)
    inputs = prepare_inputs(x, k, metric, queries, dtype, margin, device)
    exact_data, exact_q, data, q, exclude_self, width = inputs
    n = len(data) - int(exclude_self)
    count = width + 1 if width < n else width  # one more, to see a tie across the cut
    size = data.element_size()
    rows, cols = _block_rows(len(q), len(data), count, size, memory_budget)
    screen = _Screen(data, metric, cols)
    # the exact re-ranking gathers [rows, width, features] differences
    rerank_rows = max(1, memory_budget // (width * data.shape[1] * (2 * size + 8)))
    out_d = torch.empty(len(q), k, dtype=torch.float64, device=device)
    out_i = torch.empty(len(q), k, dtype=torch.int64, device=device)
    with _full_precision():
        for start in range(0, len(q), rows):
            qb = screen.queries(q[start : start + rows])
            own = torch.arange(start, start + len(qb), device=device) if exclude_self else None
            values, candidates = screen.smallest(qb, own, count)
            if count > width:  # rows whose cut falls inside a run of equal scores
                tied = torch.nonzero(values[:, width - 1] == values[:, width]).flatten()
                candidates = candidates[:, :width]
                if len(tied):
                    again = screen.smallest_stable(
                        qb[tied], None if own is None else own[tied], width
                    )
                    candidates[tied] = again
            for r0 in range(0, len(qb), rerank_rows):
                at = slice(start + r0, start + min(r0 + rerank_rows, len(qb)))
                d, i = _rerank(exact_q[at], exact_data, candidates[r0 : r0 + rerank_rows], k,
                               metric == "l1")  # fmt: skip
                out_d[at], out_i[at] = d, i
    if metric == "cosine":
        out_d = out_d * out_d / 2
    return out_d.to(dtype), out_i
