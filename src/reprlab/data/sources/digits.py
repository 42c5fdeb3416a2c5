"""scikit-learn's bundled 8x8 digits (1 797 images, 10 classes): always present, no download.

Pixel values 0..16 are scaled to uint8 0..255 by ``round(v * 255 / 16)``. The train/test
split is stratified, 25 % test, with a fixed seed (0), so every run seed sees the same test set
(1 347 train / 450 test).
"""

from __future__ import annotations

import numpy as np
import torch

from reprlab.data.sources.base import Source
from reprlab.data.splits import stratified_indices
from reprlab.data.types import Dataset, Split

TEST_FRACTION = 0.25
SPLIT_SEED = 0


def load(root=None, download: bool = False, size: int | None = None) -> Dataset:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    pixels = np.rint(bunch.images * (255.0 / 16.0)).astype(np.uint8)
    images = torch.from_numpy(pixels).unsqueeze(1).contiguous()
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    full = Split(images, labels)
    train, test = stratified_indices(labels.numpy(), TEST_FRACTION, SPLIT_SEED)
    return Dataset(
        name="digits",
        splits={"train": full.subset(train), "test": full.subset(test)},
        classes=[str(c) for c in range(10)],
        source="sklearn.datasets.load_digits (bundled)",
    )


def locate(root=None) -> str:
    return "bundled with scikit-learn"


SOURCE = Source(
    name="digits",
    summary="scikit-learn's 8x8 handwritten digits; bundled, always present",
    load=load,
    locate=locate,
    image_shape=(1, 8, 8),
    sizes=(1347, 450),
    num_classes=10,
)
