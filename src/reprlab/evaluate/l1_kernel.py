"""Exact L1 distances between uint8 rows (images), with the CPU's sum-of-absolute-differences
instructions: the screen behind `reprlab.evaluate.knn` for ``metric='l1'`` on uint8 data.

Pixel differences are integers, so the distances are exact (as float32 while ``d * 255 <
2^24``) and ties are true ties; `torch.cdist(p=1)` on the same rows as floats computes the
same numbers several times slower. The C source (``l1_kernel.c``) is built on first use
(`reprlab.cbuild`); `usable` is False, and knn keeps `torch.cdist`, where it cannot run.
"""

from __future__ import annotations

import ctypes
import threading
from pathlib import Path

import numpy as np

from reprlab.cbuild import BASE_FLAGS, build, capability

_SOURCE = Path(__file__).with_name("l1_kernel.c")
_LOCK = threading.Lock()
_STATE: dict[str, object] = {}
MAX_WIDTH = (1 << 24) // 255  # longest row whose distances are exact in float32


def _function():
    if "function" not in _STATE:
        with _LOCK:
            if "function" not in _STATE:
                level = capability()
                flags = BASE_FLAGS + (["-mavx512f", "-mavx512bw"] if level == "AVX512" else [])
                library = build(_SOURCE, flags)
                function = None
                if library is not None:
                    function = library.l1_u8
                    pointer, i64 = ctypes.c_void_p, ctypes.c_int64
                    function.argtypes = [pointer, i64, pointer, i64, i64, pointer, i64]
                    function.restype = None
                    _STATE["width"] = library.l1_width()
                _STATE["function"] = function
    return _STATE["function"]


def usable(width: int) -> bool:
    """Whether rows of ``width`` bytes can be scored exactly by the kernel here."""
    return width < MAX_WIDTH and _function() is not None


def padded(rows: np.ndarray) -> np.ndarray:
    """``rows`` (uint8, ``[N, d]``) as a C-contiguous copy zero-padded to the kernel's vector
    width (zeros on both sides add nothing to a distance)."""
    _function()
    step = _STATE["width"]
    width = -(-rows.shape[1] // step) * step
    out = np.zeros((len(rows), width), dtype=np.uint8)
    out[:, : rows.shape[1]] = rows
    return out


def l1_distances(queries: np.ndarray, data: np.ndarray, out: np.ndarray) -> None:
    """``out[i, j] = sum_t |queries[i, t] - data[j, t]|`` for rows from `padded`; ``out`` is a
    float32 ``[len(queries), len(data)]`` array, rows possibly strided."""
    assert queries.dtype == data.dtype == np.uint8 and out.dtype == np.float32
    assert queries.flags.c_contiguous and data.flags.c_contiguous
    assert queries.shape[1] == data.shape[1] and out.shape == (len(queries), len(data))
    assert out.strides[1] == 4
    _function()(
        queries.ctypes.data,
        len(queries),
        data.ctypes.data,
        len(data),
        queries.shape[1],
        out.ctypes.data,
        out.strides[0] // 4,
    )
