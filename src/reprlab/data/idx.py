"""The IDX file format of MNIST-like data sets (http://yann.lecun.com/exdb/mnist/).

A file is a big-endian header: two zero bytes, a type byte (0x08 = unsigned byte), the number of
dimensions d, then d int32 sizes; then the data, row-major. Images are ``idx3`` (N, H, W) and
labels ``idx1`` (N,). Files may be gzip-compressed (``.gz``). Decoding uses numpy on the whole
buffer; any deviation (magic, length, gzip stream) raises `DataError` naming the file.
"""

from __future__ import annotations

import gzip
import zlib
from pathlib import Path

import numpy as np

from reprlab.errors import DataError

UBYTE = 0x08


def read_idx(path: str | Path, ndim: int) -> np.ndarray:
    """The uint8 array in IDX file ``path``, which must have ``ndim`` dimensions."""
    path = Path(path)
    try:
        raw = path.read_bytes()
        if raw[:2] == b"\x1f\x8b":
            raw = gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as error:
        raise DataError(
            f"cannot read IDX file {path}: {error}; delete it and fetch it again"
        ) from None
    return parse_idx(raw, ndim, path)


def parse_idx(raw: bytes, ndim: int, path: str | Path = "<bytes>") -> np.ndarray:
    """Decode IDX bytes (uncompressed) holding unsigned bytes in ``ndim`` dimensions."""
    fix = "delete it and fetch it again"
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != UBYTE or raw[3] != ndim:
        magic = raw[:4].hex() if len(raw) >= 4 else "none"
        raise DataError(
            f"{path} is not an IDX file of {ndim}-D unsigned bytes (magic {magic}, expected "
            f"0000080{ndim}); {fix}"
        )
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"IDX file {path} is truncated inside its header; {fix}")
    shape = tuple(int(s) for s in np.frombuffer(raw, dtype=">i4", count=ndim, offset=4))
    expected = header + int(np.prod(shape, dtype=np.int64))
    if len(raw) != expected:
        raise DataError(
            f"IDX file {path} has {len(raw)} bytes, expected {expected} for shape {shape} "
            f"(truncated or corrupt); {fix}"
        )
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(shape)


def write_idx(path: str | Path, array: np.ndarray, compress: bool | None = None) -> None:
    """Write a uint8 array as IDX (gzip when ``compress`` or the name ends with ``.gz``)."""
    from reprlab.atomic import write_bytes

    array = np.ascontiguousarray(array, dtype=np.uint8)
    header = bytes([0, 0, UBYTE, array.ndim]) + np.asarray(array.shape, dtype=">i4").tobytes()
    data = header + array.tobytes()
    if compress if compress is not None else str(path).endswith(".gz"):
        data = gzip.compress(data, mtime=0)
    write_bytes(path, data)
