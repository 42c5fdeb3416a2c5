"""A fused CPU kernel for the per-column robust loss sum behind `AdaptiveLoss` (float32).

One pass over x computes the column sums of e1 = expm1(alpha L / 2) (the loss), of x^2 P (the
scale's gradient) and of d rho / d alpha (the three forms of `general._drho_dalpha`), and the
per-element x P (x's gradient), so the backward only scales them. log1p and expm1 are SLEEF's
vector functions (1-ulp, exported by libtorch_cpu) at the width torch's vectorised CPU kernels
use on this machine (AVX2 or AVX-512); torch.log1p may round differently by an ulp, so values
and gradients agree with the eager path to about 1e-6 relative (2e-6 where exp(y) amplifies an
ulp of y), and are no further from float64 than the eager path's; the column sums are
accumulated in double.

The C source (``adaptive_kernel.c``) is compiled on first use with the system C compiler for
AVX2 and cached on disk (``$REPRLAB_CACHE_DIR`` or the user cache dir, ``kernels/``), keyed by
a hash of the source and the flags. `kernel` returns None, and the caller keeps the eager
path, where it cannot run: no C compiler, no AVX2, not x86-64, or a failed build.
``REPRLAB_NO_KERNELS=1`` turns it off.

numba was measured first: its scalar libm log1p/expm1 took 14 ms for 256 x 784, against
1.3 ms for torch's vectorised pair, so it cannot meet the target.
"""

from __future__ import annotations

import ctypes
import math
import threading
from pathlib import Path

import torch
from torch import Tensor

from reprlab.cbuild import BASE_FLAGS, build, capability

__all__ = ["columns", "kernel", "usable"]

NCOEF = 15  # must equal NCOEF in adaptive_kernel.c
_SOURCE = Path(__file__).with_name("adaptive_kernel.c")
_FLAGS = [*BASE_FLAGS, "-ffp-contract=fast", "-fno-trapping-math"]
# torch's CPU kernels use 16-wide SLEEF on AVX-512 machines: the same functions, same values
_AVX512_FLAGS = ["-mavx512f", "-mavx512dq", "-mprefer-vector-width=512", "-DUSE_AVX512"]
_LOCK = threading.Lock()
_STATE: dict[str, object] = {}


def _build() -> ctypes.CDLL | None:
    level = capability()
    flags = _FLAGS + (_AVX512_FLAGS if level == "AVX512" else [])
    torch_lib = Path(torch.__file__).parent / "lib"
    link = [f"-L{torch_lib}", "-ltorch_cpu", f"-Wl,-rpath,{torch_lib}"]
    library = build(_SOURCE, flags, link)
    if library is None:
        return None
    function = library.adaptive_columns
    pointer, i64 = ctypes.c_void_p, ctypes.c_int64
    function.argtypes = [pointer, i64, i64, i64, pointer, pointer, ctypes.c_float]
    function.argtypes += [pointer] * 5
    function.restype = i64
    _STATE["width"] = library.adaptive_width()
    return library


def kernel():
    """The compiled ``adaptive_columns`` function, or None where it cannot run."""
    if "library" not in _STATE:
        with _LOCK:
            if "library" not in _STATE:
                _STATE["library"] = _build()
    library = _STATE["library"]
    return None if library is None else library.adaptive_columns


def usable(x: Tensor, alpha: Tensor) -> bool:
    """Whether `columns` can take this call (CPU float32, 2-D; the kernel builds)."""
    return (
        x.device.type == "cpu"
        and x.dtype == torch.float32
        and alpha.dtype == torch.float32
        and x.dim() == 2
        and x.shape[0] > 0
        and kernel() is not None
    )


def columns(
    x: Tensor,
    alpha: Tensor,
    scale: Tensor,
    gx: Tensor,
    rho: Tensor | None = None,
    da: Tensor | None = None,
):
    """(sum e1, sum x^2 P, sum d rho / d alpha) per column as float32, with x P written into
    ``gx`` (and, if given, rho and d rho / d alpha per element into ``rho`` and ``da``); or
    None where some alpha L / 2 is too large for the kernel's forms (the caller then takes the
    robust path). ``alpha`` (finite, >= the tiny threshold, != 2) and ``scale`` (> 0) are 1-D
    float32 of length D; the kernel computes its per-column constants in double."""
    function = kernel()
    x = x.contiguous()
    alpha = alpha.detach().contiguous()
    scale = scale.detach().contiguous()
    rows, d = x.shape
    width = _STATE["width"]
    dp = -(-d // width) * width
    work = torch.empty((6 + 10 + NCOEF) * dp, dtype=torch.float32)
    sums = torch.empty(3, dp, dtype=torch.float64)
    overflow = function(
        x.data_ptr(),
        rows,
        d,
        dp,
        alpha.data_ptr(),
        scale.data_ptr(),
        _Y_MAX,
        work.data_ptr(),
        gx.data_ptr(),
        sums.data_ptr(),
        None if rho is None else rho.data_ptr(),
        None if da is None else da.data_ptr(),
    )
    if overflow:
        return None
    s_e1, s_x2p, s_da = sums[:, :d].float()
    return s_e1, s_x2p, s_da


#: the largest alpha L / 2 the kernel takes (exp of it times L - w stays finite in float32)
_Y_MAX = 0.5 * (math.log(torch.finfo(torch.float32).max) - 4.0)
