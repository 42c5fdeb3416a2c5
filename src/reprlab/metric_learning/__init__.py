"""Metric learning: per-class cluster index, Magnet batches, objectives and their callbacks,
nearest-centre classification, and the losses of a batch sharded over processes. The model
that trains with them is the ``embedder`` family (`reprlab.models.embedder`); this package
imports only ``reprlab.losses`` and the leaf ``reprlab.callbacks``, never ``reprlab.models``."""

from reprlab.metric_learning.clusters import ClusterIndex, per_class_kmeans
from reprlab.metric_learning.objectives import (
    OBJECTIVES,
    MagnetObjective,
    MyLossObjective,
    ProxyAnchorObjective,
    RepMetObjective,
    TripletObjective,
)
from reprlab.metric_learning.sampler import MagnetBatchLoader, MagnetBatchSampler

__all__ = [
    "OBJECTIVES",
    "ClusterIndex",
    "MagnetBatchLoader",
    "MagnetBatchSampler",
    "MagnetObjective",
    "MyLossObjective",
    "ProxyAnchorObjective",
    "RepMetObjective",
    "TripletObjective",
    "per_class_kmeans",
]
