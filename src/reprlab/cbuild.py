"""Small C kernels compiled on first use with the system C compiler and cached on disk.

A library is built once per (source, flags, torch version) into
``$REPRLAB_CACHE_DIR/kernels`` (default ``~/.cache/reprlab/kernels``) and loaded with ctypes,
whose foreign calls release the GIL. `build` returns None, and the caller keeps its pure-torch
path, where a kernel cannot run: ``REPRLAB_NO_KERNELS=1``, not x86-64, a CPU without AVX2, no
C compiler, or a failed build.
"""

from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import subprocess
import tempfile
from pathlib import Path

import torch

BASE_FLAGS = ["-O3", "-mavx2", "-mfma", "-std=c99", "-fPIC", "-shared"]


def cache_dir() -> Path:
    """The folder holding built kernels (created)."""
    root = os.environ.get("REPRLAB_CACHE_DIR")
    if not root:
        import platformdirs

        root = platformdirs.user_cache_dir("reprlab")
    path = Path(root, "kernels")
    path.mkdir(parents=True, exist_ok=True)
    return path


def capability() -> str | None:
    """``'AVX512'`` or ``'AVX2'`` where kernels may run (torch's own CPU dispatch level), else
    None."""
    if os.environ.get("REPRLAB_NO_KERNELS") == "1":
        return None
    if platform.machine().lower() not in ("x86_64", "amd64"):
        return None
    level = torch.backends.cpu.get_cpu_capability()
    return level if level in ("AVX2", "AVX512") else None


def build(source: Path, flags: list[str], link: list[str] = ()) -> ctypes.CDLL | None:
    """The library compiled from ``source`` with ``flags`` (cached), or None where it cannot be
    built or loaded."""
    compiler = shutil.which(os.environ.get("CC", "cc")) or shutil.which("gcc")
    if capability() is None or compiler is None or not source.exists():
        return None
    text = source.read_bytes()
    key = hashlib.sha256(text + " ".join([*flags, *link, torch.__version__]).encode())
    try:
        target = cache_dir() / f"{source.stem}_{key.hexdigest()[:16]}.so"
        if not target.exists():
            with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
                built = Path(tmp, target.name)
                subprocess.run(
                    [compiler, *flags, str(source), "-o", str(built), *link],
                    check=True,
                    capture_output=True,
                    timeout=120,
                )
                os.replace(built, target)  # atomic: concurrent builders race harmlessly
        return ctypes.CDLL(str(target))
    except (OSError, subprocess.SubprocessError):
        return None
