"""Where evaluation caches live: input-space neighbours and FID feature classifiers.

The folder is ``$REPRLAB_CACHE_DIR`` when set, else the user cache dir from platformdirs
(``~/.cache/reprlab`` on Linux). Entries are keyed by a hash of the data they derive from, so a
changed data set never reuses a stale entry.
"""

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

CACHE_ENV = "REPRLAB_CACHE_DIR"


def cache_dir(*parts: str) -> Path:
    """The cache folder (created), or a sub-folder of it."""
    root = os.environ.get(CACHE_ENV)
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("reprlab")
    path = Path(root, *parts)
    path.mkdir(parents=True, exist_ok=True)
    return path


def content_hash(*arrays) -> str:
    """SHA-256 (first 16 hex digits) of the arrays' shapes, dtypes and bytes."""
    digest = hashlib.sha256()
    for array in arrays:
        if isinstance(array, torch.Tensor):
            array = array.detach().cpu().numpy()
        array = np.ascontiguousarray(array)
        digest.update(f"{array.shape}{array.dtype}".encode())
        digest.update(array.tobytes())
    return digest.hexdigest()[:16]
