"""Compiled (numba) kernels behind `reprlab.evaluate.knn` on the CPU: streaming selection of
each row's smallest scores and the exact re-ranking of the survivors.

Selection keeps, per query, a buffer of three times the wanted width and a limit, first
estimated from a sample of the row; a score is appended only when it is below the limit, and
a full buffer is cut back to the ``width`` smallest by quickselect, which tightens the limit.
Almost every score costs one comparison, against `torch.topk`'s copy of the row into (value,
index) pairs and a heap. Order is lexicographic in (score, index), so ties keep the lower
index. Re-ranking streams the data in index order, each point read once per query block.
"""

import numba
import numpy as np

_KERNEL = {"cache": True, "nogil": True}


@numba.njit(inline="always")
def _before(v1, i1, v2, i2):
    return v1 < v2 or (v1 == v2 and i1 < i2)


@numba.njit(**_KERNEL)
def _keep_smallest(values, indices, size, width):
    """Rearrange ``values[:size]`` (with ``indices``) so that its ``width`` smallest, by
    (value, index), come first (quickselect: median-of-three pivot, Lomuto partition)."""
    lo, hi = 0, size - 1
    target = width - 1
    while lo < hi:
        mid = (lo + hi) // 2
        # median of three moved to `hi`, then Lomuto partition around it
        if _before(values[mid], indices[mid], values[lo], indices[lo]):
            values[mid], values[lo] = values[lo], values[mid]
            indices[mid], indices[lo] = indices[lo], indices[mid]
        if _before(values[hi], indices[hi], values[lo], indices[lo]):
            values[hi], values[lo] = values[lo], values[hi]
            indices[hi], indices[lo] = indices[lo], indices[hi]
        if _before(values[mid], indices[mid], values[hi], indices[hi]):
            values[mid], values[hi] = values[hi], values[mid]
            indices[mid], indices[hi] = indices[hi], indices[mid]
        pv, pi = values[hi], indices[hi]
        store = lo
        for j in range(lo, hi):
            if _before(values[j], indices[j], pv, pi):
                values[j], values[store] = values[store], values[j]
                indices[j], indices[store] = indices[store], indices[j]
                store += 1
        values[hi], values[store] = values[store], values[hi]
        indices[hi], indices[store] = indices[store], indices[hi]
        if store == target:
            return
        if store < target:
            lo = store + 1
        else:
            hi = store - 1


@numba.njit(**_KERNEL)
def _scan(row, offset, skip, vals, idx, size, width, limit):
    """Append each score of ``row`` below ``limit`` (but not column ``skip``) to the selection
    ``vals/idx[:size]``; a full buffer is cut to its ``width`` smallest, whose largest becomes
    the new limit. Column indices only grow, so a tie never displaces a kept point.
    Returns the new size."""
    capacity = vals.shape[0]
    for j in range(row.shape[0]):
        v = row[j]
        if v < limit and j != skip:
            vals[size] = v
            idx[size] = offset + j
            size += 1
            if size == capacity:
                _keep_smallest(vals, idx, size, width)
                size = width
                limit = vals[:width].max()
    return size


@numba.njit(**_KERNEL)
def _sample_limit(row, width):
    """A score with a little more than ``width`` of ``row``'s scores below it, most likely:
    in a sample of 2048 scores (16 evenly spaced runs of 128, read sequentially), the order
    statistic three standard deviations above the expected rank of the ``width``-th smallest,
    found by insertion into a short sorted list. Used only as a first limit:
    `select_smallest` checks that enough scores fell below it and rescans otherwise."""
    n = row.shape[0]
    runs, run = (16, 128) if n > 2048 else (1, n)
    expected = width * runs * run / n
    keep = min(runs * run, int(expected + 3.0 * np.sqrt(expected)) + 2)
    best = np.full(keep, np.inf)
    for s in range(runs):
        first = s * (n - run) // max(1, runs - 1)
        for j in range(first, first + run):
            v = row[j]
            if v < best[keep - 1]:
                i = keep - 1
                while i > 0 and best[i - 1] > v:
                    best[i] = best[i - 1]
                    i -= 1
                best[i] = v
    return best[keep - 1]


@numba.njit(**_KERNEL)
def select_smallest(scores, column_offset, self_index, width, values, indices, counts):
    """Merge each row of ``scores`` (column ``j`` is data point ``column_offset + j``) into
    that row's running selection ``values/indices[r, :counts[r]]``, skipping data point
    ``self_index[r]``. Call with increasing ``column_offset``; the selection then holds the
    ``width`` smallest (by score, then index), possibly among a few more (`cut`). Scores must
    be finite; the buffers' capacity ``values.shape[1]`` must exceed ``width``."""
    for r in range(scores.shape[0]):
        vals, idx, size = values[r], indices[r], counts[r]
        skip = self_index[r] - column_offset
        limit = np.inf
        if size >= width:  # a full selection from earlier blocks: its largest is the bar
            _keep_smallest(vals, idx, size, width)
            size = width
            limit = vals[:width].max()
        elif size == 0:  # a first block: start from a sampled bar; most rows keep it
            limit = _sample_limit(scores[r], width)
        size_after = _scan(scores[r], column_offset, skip, vals, idx, size, width, limit)
        if size_after < width and limit != np.inf:  # too few below the sampled bar
            size_after = _scan(scores[r], column_offset, skip, vals, idx, 0, width, np.inf)
        counts[r] = size_after


@numba.njit(**_KERNEL)
def cut(values, indices, counts, width):
    """Cut each row's selection to its ``width`` smallest, in place; counts become <= width."""
    for r in range(values.shape[0]):
        if counts[r] > width:
            _keep_smallest(values[r], indices[r], counts[r], width)
            counts[r] = width


@numba.njit(**_KERNEL)
def pairs_by_data_point(indices, counts, n_data):
    """Group the (query, slot) pairs of a selection by the data point ``indices[query, slot]``
    they name, as compressed rows: the pairs of point ``j`` are ``pair_query/pair_slot[
    start[j]:start[j + 1]]``, so exact distances can stream the data in index order."""
    start = np.zeros(n_data + 1, np.int64)
    for r in range(counts.shape[0]):
        for c in range(counts[r]):
            start[indices[r, c] + 1] += 1
    for j in range(n_data):
        start[j + 1] += start[j]
    fill = start[:-1].copy()
    pair_query = np.empty(start[-1], np.int64)
    pair_slot = np.empty(start[-1], np.int64)
    for r in range(counts.shape[0]):
        for c in range(counts[r]):
            p = fill[indices[r, c]]
            pair_query[p], pair_slot[p] = r, c
            fill[indices[r, c]] += 1
    return start, pair_query, pair_slot


@numba.njit(fastmath={"reassoc"})
def _l2(x, q):
    total = 0.0
    for d in range(x.shape[0]):
        diff = np.float64(x[d] - q[d])  # one rounding at most, then summed in float64
        total += diff * diff
    return np.sqrt(total)


@numba.njit(fastmath={"reassoc"})
def _l1(x, q):
    total = 0.0
    for d in range(x.shape[0]):
        total += abs(np.float64(x[d] - q[d]))
    return total


@numba.njit(**_KERNEL)
def exact_distances(queries, data, start, pair_query, pair_slot, first, last, l1, out):
    """``out[query, slot]``: the distance between ``queries[query]`` and each data point ``j``
    in ``[first, last)`` that the pairs name, each point read once. Coordinate differences are
    taken in the inputs' precision (exact when the two are within a factor of two) and
    summed in float64."""
    for j in range(first, last):
        x = data[j]
        for p in range(start[j], start[j + 1]):
            r = pair_query[p]
            out[r, pair_slot[p]] = _l1(x, queries[r]) if l1 else _l2(x, queries[r])
