"""pytorch-metric-learning plumbing shared by reprlab's metric-learning losses.

`MetricLoss` is a ``BaseMetricLossFunction`` that also takes torch's ``reduction=``
('mean' | 'sum' | 'none'; 'none' gives the per-example losses [N]), so reprlab's losses work
with the library's miners, reducers, ``DistributedLossWrapper`` and, for Magnet,
`CrossBatchMemory`.
"""

import torch
from pytorch_metric_learning import losses as pml_losses
from pytorch_metric_learning.distances import LpDistance
from pytorch_metric_learning.reducers import BaseReducer, MeanReducer, SumReducer
from torch import Tensor

from reprlab.errors import ConfigError
from reprlab.losses.named import check_reduction


class PerExampleReducer(BaseReducer):
    """``reduction='none'``: the element losses as a tensor [N] (0 where there are none)."""

    def element_reduction(self, losses, loss_indices, embeddings, labels) -> Tensor:
        out = torch.zeros(len(embeddings), dtype=losses.dtype, device=losses.device)
        return out.index_put((loss_indices,), losses, accumulate=True)

    def zero_loss(self, embeddings: Tensor) -> Tensor:
        return embeddings.sum(1) * 0


def reducer_for(reduction: str, reducer: BaseReducer | None) -> BaseReducer:
    """The reducer of torch's ``reduction``, or ``reducer`` when one is given."""
    check_reduction(reduction)
    if reducer is not None:
        if reduction != "mean":
            raise ConfigError("pass either reduction= or reducer=, not both")
        return reducer
    return {"mean": MeanReducer, "sum": SumReducer, "none": PerExampleReducer}[reduction]()


class MetricLoss(pml_losses.BaseMetricLossFunction):
    """Base of reprlab's losses in pytorch-metric-learning; they use squared Euclidean
    distances on the raw embeddings, so they take no ``distance=``."""

    def __init__(self, reduction: str = "mean", reducer: BaseReducer | None = None, **kwargs):
        if "distance" in kwargs:
            raise ConfigError(
                f"{type(self).__name__} uses squared Euclidean distances; drop distance="
            )
        super().__init__(reducer=reducer_for(reduction, reducer), **kwargs)
        self.reduction = reduction

    def get_default_distance(self) -> LpDistance:
        return LpDistance(normalize_embeddings=False, p=2, power=2)


class CrossBatchMemory(pml_losses.CrossBatchMemory):
    """pytorch-metric-learning's ``CrossBatchMemory`` that also accepts `MagnetLoss`: the
    cluster means and sigma^2 then come from the memory (Wang et al. 2020, "Cross-Batch Memory
    for Embedding Learning")."""

    @staticmethod
    def supported_losses() -> list[str]:
        return [*pml_losses.CrossBatchMemory.supported_losses(), "MagnetLoss"]
