"""Deterministic stratified splits: each class is divided in the same proportion."""

from __future__ import annotations

import numpy as np
import torch

from reprlab.data.types import Split
from reprlab.errors import DataError


def stratified_indices(
    labels: np.ndarray | torch.Tensor, fraction: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """Split example indices into (keep, held_out), ``fraction`` of each class held out.

    Each class with n examples gives ``round(fraction * n)`` held-out examples, at least one
    when n >= 2 and at most n - 1, chosen by a permutation seeded with ``seed``. Both index
    arrays are sorted, so the split's order follows the source order.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    labels = np.asarray(labels)
    rng = np.random.default_rng(seed)
    held = []
    for c in np.unique(labels):
        members = np.flatnonzero(labels == c)
        n = len(members)
        k = round(fraction * n)
        if fraction > 0 and n >= 2:
            k = min(max(k, 1), n - 1)
        else:
            k = 0
        held.append(rng.permutation(members)[:k])
    held_out = np.sort(np.concatenate(held)) if held else np.empty(0, dtype=np.int64)
    mask = np.ones(len(labels), dtype=bool)
    mask[held_out] = False
    return np.flatnonzero(mask), held_out.astype(np.int64)


def stratified_split(split: Split, fraction: float, seed: int) -> tuple[Split, Split]:
    """``(rest, held_out)`` of ``split`` with `stratified_indices`; a split too small to
    hold anything out (no class with 2 examples) is a ``DataError``."""
    keep, held = stratified_indices(split.labels.numpy(), fraction, seed)
    if fraction > 0 and (len(held) == 0 or len(keep) == 0):
        raise DataError(
            f"{len(split)} examples are too few to hold out a fraction {fraction}: no class "
            "has 2 examples; use more data or val_fraction=0"
        )
    return split.subset(keep), split.subset(held)
