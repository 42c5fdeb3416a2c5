"""Transition for the functional losses that returned ``(mean, per-example losses)``.

They now return one tensor and take ``reduction=``, like ``torch.nn.functional``. For one
release, their default ``reduction='mean'`` result still unpacks into the old pair, with a
`DeprecationWarning`; every other use of it is a plain 0-d tensor.
"""

import warnings

import torch
from torch import Tensor


class _MeanThatUnpacks(Tensor):
    """A 0-d mean that also unpacks as ``mean, per_example = ...`` (deprecated)."""

    __torch_function__ = torch._C._disabled_torch_function_impl  # results are plain tensors

    def __iter__(self):
        warnings.warn(
            f"{self._loss_name} now returns one tensor; use its result as the mean, and "
            "reduction='none' for the per-example losses",
            DeprecationWarning,
            stacklevel=2,
        )
        return iter((self.as_subclass(Tensor), self._per_example))


def mean_that_unpacks(per_example: Tensor, loss_name: str) -> Tensor:
    """``per_example.mean()``, unpackable into ``(mean, per_example)`` with a warning."""
    mean = per_example.mean().as_subclass(_MeanThatUnpacks)
    mean._per_example, mean._loss_name = per_example, loss_name
    return mean
