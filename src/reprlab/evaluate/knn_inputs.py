"""knn's inputs, shared by the CPU path (`reprlab.evaluate.knn`) and the device path
(`reprlab.evaluate.knn_device`): the metrics, the argument checks, and the rows each path
screens and re-ranks from.
"""

from typing import NamedTuple

import numpy as np
import torch
from torch import Tensor

from reprlab.errors import ConfigError, DataError

METRICS = ("l2", "l1", "cosine")


def _as_tensor(a, dtype: torch.dtype, device: torch.device | str = "cpu") -> Tensor:
    if isinstance(a, np.ndarray):
        a = torch.from_numpy(np.ascontiguousarray(a))
    return a.detach().to(device, dtype).reshape(len(a), -1).contiguous()


def _check_finite_scores(data: Tensor, queries: Tensor, metric: str) -> None:
    """Raise unless every coordinate is finite and no score can overflow: L2 scores are at most
    ``3 m^2`` and L1 distances at most ``2 m`` for ``m`` the largest row norm."""
    order = 1 if metric == "l1" else 2
    rows = (data,) if queries is data else (data, queries)
    m = max(torch.linalg.vector_norm(t, ord=order, dim=1).max().item() for t in rows)
    bound = 2 * m if metric == "l1" else 3 * m * m
    if not np.isfinite(m) or bound >= torch.finfo(data.dtype).max:
        raise DataError(
            "knn got NaN, infinite or overflowing coordinates; clean those rows, or pass "
            "dtype=torch.float64 for very large values"
        )


def _is_float64(a) -> bool:
    return a.dtype in (np.float64, torch.float64)


def _unit_rows(a, device: torch.device | str = "cpu") -> Tensor:
    """Rows scaled to unit Euclidean length, in float64 (cosine neighbours are their L2
    neighbours); zero rows have no direction and are refused."""
    rows = _as_tensor(a, torch.float64, device)
    norms = torch.linalg.vector_norm(rows, dim=1)
    if not bool(torch.isfinite(norms).all()) or bool((norms == 0).any()):
        raise DataError(
            "knn with metric='cosine' got a zero, NaN or infinite row; drop those rows or use "
            "metric='l2'"
        )
    return rows / norms[:, None]


class Inputs(NamedTuple):
    """knn's checked inputs: the rows the candidates are re-ranked from (``exact_*``), the
    rows the screen scores (``data``, ``q``, in the screen's dtype), and ``width`` (k plus
    the margin), shared by the CPU path and `reprlab.evaluate.knn_device`."""

    exact_data: Tensor
    exact_q: Tensor
    data: Tensor
    q: Tensor
    exclude_self: bool
    width: int


def prepare_inputs(x, k, metric, queries, dtype, margin, device="cpu") -> Inputs:
    """Check knn's arguments and lay out its rows on ``device``: cosine screens the unit rows
    and re-ranks them in float64; float64 inputs are re-ranked from their own coordinates
    whatever the screen's ``dtype``."""
    if metric not in METRICS:
        raise ConfigError(f"unknown knn metric {metric!r}; use one of {', '.join(METRICS)}")
    exclude_self = queries is None
    if metric == "cosine":
        exact_data = _unit_rows(x, device)
        exact_q = exact_data if exclude_self else _unit_rows(queries, device)
    else:
        exact_data = _as_tensor(x, torch.float64 if _is_float64(x) else dtype, device)
        exact_q = exact_data
        if not exclude_self:
            exact_q = _as_tensor(queries, torch.float64 if _is_float64(queries) else dtype, device)
            if exact_q.dtype != exact_data.dtype:
                exact_data, exact_q = exact_data.double(), exact_q.double()
    data = exact_data.to(dtype)
    q = data if exclude_self else exact_q.to(dtype)
    n = len(data) - int(exclude_self)
    if not 1 <= k <= n:
        raise ConfigError(f"knn needs 1 <= k <= {n} (the number of candidates), got k={k}")
    if q.shape[1] != data.shape[1]:
        raise ConfigError(f"queries have {q.shape[1]} features but the data has {data.shape[1]}")
    _check_finite_scores(data, q, metric)
    width = k if margin == 0 else min(n, k + (max(8, k // 16) if margin is None else margin))
    return Inputs(exact_data, exact_q, data, q, exclude_self, width)
