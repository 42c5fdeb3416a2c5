"""Image data sets in memory (uint8 NCHW), offline by default, and fast seeded batches.

>>> from reprlab.data import load_dataset, BatchLoader
>>> ds = load_dataset("digits", val_fraction=0.1, seed=0)
>>> x, y = next(BatchLoader(ds.train, 64, seed=0).epoch(0))
"""

from reprlab.data.loader import BatchLoader, epoch_generator
from reprlab.data.registry import DATASETS, PREFIXES, all_sources, load_dataset
from reprlab.data.sampler import ClassBalancedSampler
from reprlab.data.splits import stratified_indices, stratified_split
from reprlab.data.types import Dataset, Split

__all__ = [
    "DATASETS",
    "PREFIXES",
    "BatchLoader",
    "ClassBalancedSampler",
    "Dataset",
    "Split",
    "all_sources",
    "epoch_generator",
    "load_dataset",
    "stratified_indices",
    "stratified_split",
]
