"""Compiled (numba) kernels behind `reprlab.evaluate.knn` on the CPU: streaming selection of
each row's smallest scores and the exact re-ranking of the survivors.

Selection keeps, per query, a buffer of three times the wanted width and a limit, first
estimated from a sample of the row; a score is appended only when it is below the limit, and
a full buffer is cut back to the ``width`` smallest by quickselect, which tightens the limit.
Scores are first compared with the limit in chunks, with vector instructions, and almost
every chunk has none below it: against `torch.topk`'s copy of the row into (value, index)
pairs and a heap. Order is lexicographic in (score, index), so ties keep the lower
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


_CHUNK = 16  # scores counted with vector instructions before any is appended
SAMPLE_RUNS, SAMPLE_RUN = 16, 256  # the sample that sets a row's first limit
TIE = 2.0**-43  # relative difference below which rank counting takes distances as equal


@numba.njit(**_KERNEL)
def _scan(row, bias, offset, skip, vals, idx, size, width, limit):
    """Append each score ``bias[j] + row[j]`` below ``limit`` (but not column ``skip``) to the
    selection ``vals/idx[:size]``; a full buffer is cut to its ``width`` smallest, whose
    largest becomes the new limit. Column indices only grow, so a tie never displaces a kept
    point. Chunks of scores are first compared with the limit (a loop the compiler
    vectorises) and most, having none below it, are passed over. Returns the new size."""
    capacity = vals.shape[0]
    n = row.shape[0]
    for first in range(0, n, _CHUNK):
        last = min(first + _CHUNK, n)
        below = False
        for j in range(first, last):
            below |= bias[j] + row[j] < limit
        if not below:
            continue
        for j in range(first, last):
            v = bias[j] + row[j]
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
def _sample_limit(row, bias, width):
    """A score with a little more than ``width`` of the scores ``bias + row`` below it:
    in a sample of ``SAMPLE_RUNS`` evenly spaced runs of ``SAMPLE_RUN`` scores, read
    sequentially, the order statistic two standard deviations above the expected rank of the
    ``width``-th smallest, found by insertion into a short sorted list. About 1.5 ``width``
    scores then fall below it when ``width`` is a small fraction of the row (at 60 000 scores
    and ``width`` 212), and fewer than ``width`` in about 1 % of rows: the limit is only a
    first one, `select_smallest` checks that enough scores fell below it and rescans
    otherwise."""
    n = row.shape[0]
    runs, run = (SAMPLE_RUNS, SAMPLE_RUN) if n > SAMPLE_RUNS * SAMPLE_RUN else (1, n)
    expected = width * runs * run / n
    keep = min(runs * run, int(expected + 2.0 * np.sqrt(expected)) + 2)
    best = np.full(keep, np.inf, row.dtype)
    for s in range(runs):
        first = s * (n - run) // max(1, runs - 1)
        for j in range(first, first + run):
            v = bias[j] + row[j]
            if v < best[keep - 1]:
                i = keep - 1
                while i > 0 and best[i - 1] > v:
                    best[i] = best[i - 1]
                    i -= 1
                best[i] = v
    return best[keep - 1]


@numba.njit(**_KERNEL)
def select_smallest(scores, bias, column_offset, self_index, width, values, indices, counts):
    """Merge each row of ``bias + scores`` (column ``j`` is data point ``column_offset + j``;
    ``bias`` is one value per column) into that row's running selection ``values/indices[r,
    :counts[r]]``, skipping data point ``self_index[r]``. Call with increasing
    ``column_offset``; the selection then holds the ``width`` smallest (by score, then index),
    possibly among a few more (`cut`). Scores must be finite; the buffers' capacity
    ``values.shape[1]`` must exceed ``width``."""
    infinity = np.full(1, np.inf, values.dtype)[0]  # limits compare in the scores' precision
    for r in range(scores.shape[0]):
        vals, idx, size = values[r], indices[r], counts[r]
        skip = self_index[r] - column_offset
        limit = infinity
        if size >= width:  # a full selection from earlier blocks: its largest is the bar
            _keep_smallest(vals, idx, size, width)
            size = width
            limit = vals[:width].max()
        elif size == 0:  # a first block: start from a sampled bar; most rows keep it
            limit = _sample_limit(scores[r], bias, width)
        size_after = _scan(scores[r], bias, column_offset, skip, vals, idx, size, width, limit)
        if size_after < width and limit != infinity:  # too few below the sampled bar
            size_after = _scan(scores[r], bias, column_offset, skip, vals, idx, 0, width, infinity)
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


@numba.njit(**_KERNEL)
def order_candidates(exact, indices, first, last, out_distances, out_indices):
    """For rows ``first..last-1``: the ``k = out_indices.shape[1]`` smallest of ``exact[r]``
    (the distances of candidates ``indices[r, :exact.shape[1]]``), nearest first, ties to the
    lower index (a stable sort of the candidates taken in index order)."""
    width, k = exact.shape[1], out_indices.shape[1]
    for r in range(first, last):
        by_index = np.argsort(indices[r, :width])
        distances = exact[r][by_index]
        order = np.argsort(distances, kind="mergesort")[:k]
        out_distances[r] = distances[order]
        out_indices[r] = indices[r, :width][by_index][order]


@numba.njit(inline="always")
def _distance_exact(a, b, l1):
    """The L1 distance or the squared L2 distance of two float64 rows, summed in a fixed
    order (four running sums), so equal inputs always give bitwise equal results."""
    s0 = s1 = s2 = s3 = 0.0
    d = a.shape[0]
    full = d - d % 4
    for t in range(0, full, 4):
        d0, d1, d2, d3 = a[t] - b[t], a[t + 1] - b[t + 1], a[t + 2] - b[t + 2], a[t + 3] - b[t + 3]
        if l1:
            s0, s1, s2, s3 = s0 + abs(d0), s1 + abs(d1), s2 + abs(d2), s3 + abs(d3)
        else:
            s0, s1, s2, s3 = s0 + d0 * d0, s1 + d1 * d1, s2 + d2 * d2, s3 + d3 * d3
    for t in range(full, d):
        diff = a[t] - b[t]
        s0 += abs(diff) if l1 else diff * diff
    return (s0 + s1) + (s2 + s3)


@numba.njit(**_KERNEL)
def neighbour_distances(x, neighbours, first, last, l1, out):
    """``out[i, m]``: the exact distance (L1, or squared L2) from ``x[i]`` to
    ``x[neighbours[i, m]]`` for rows ``first..last-1`` (float64, `_distance_exact`)."""
    for i in range(first, last):
        for m in range(neighbours.shape[1]):
            out[i, m] = _distance_exact(x[i], x[neighbours[i, m]], l1)


@numba.njit(**_KERNEL)
def count_ranks(scores, bias, row_bias, error, thresholds, neighbours, first_row, x, l1, out):
    """Exact ranks of listed neighbours from screened scores.

    For query ``i = first_row + r``: ``scores[r, l] + bias[l] + row_bias[r]`` is within
    ``error[r]`` of the exact distance (`_distance_exact`) from ``x[i]`` to ``x[l]``.
    ``out[r, m]`` becomes the rank of ``j = neighbours[r, m]``, whose exact distance is
    ``thresholds[r, m]``: ``1 +`` the number of points ``l != i`` nearer than ``j``, or as
    near with ``l < j``; distances within a relative ``TIE`` count as equal, so that inputs
    whose distances tie before rounding (images scaled by 1/255) still tie. ``error`` must
    exceed the screen's rounding by ``TIE`` times the largest distance. The points whose
    screened score is below the largest threshold (plus
    the error) are gathered first; against each threshold, those more than ``error`` below it
    are counted on the screen alone, with vector compares, and the few within ``error`` of it
    (other than ``j``) by their exact distance. Returns the number of exact distances
    computed."""
    k = thresholds.shape[1]
    n = scores.shape[1]
    rechecked = 0
    near = np.empty(n, np.float64)
    where = np.empty(n, np.int64)
    for r in range(scores.shape[0]):
        i = first_row + r
        e, c = error[r], row_bias[r]
        top = thresholds[r].max() + e
        row = scores[r]
        size = 0
        for start in range(0, n, _CHUNK):
            stop = min(start + _CHUNK, n)
            below = 0
            for l in range(start, stop):
                below += 1 if c + bias[l] + row[l] <= top else 0
            if below == 0:
                continue
            for l in range(start, stop):
                s = c + bias[l] + row[l]
                if s <= top and l != i:
                    near[size] = s
                    where[size] = l
                    size += 1
        for m in range(k):
            t, j = thresholds[r, m], neighbours[r, m]
            tie = TIE * t
            surely, unsure = 0, 0
            for b in range(size):
                surely += 1 if near[b] < t - e else 0
                unsure += 1 if near[b] <= t + e else 0
            nearer = surely
            if unsure - surely > 1:  # more than j itself within the error: decide exactly
                for b in range(size):
                    l = where[b]
                    if l != j and t - e <= near[b] <= t + e:
                        d = _distance_exact(x[i], x[l], l1)
                        rechecked += 1
                        nearer += 1 if d < t - tie or (d <= t + tie and l < j) else 0
            out[r, m] = 1 + nearer
    return rechecked
