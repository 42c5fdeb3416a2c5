"""Metric learning: per-class cluster index, Magnet batches, objectives and their callbacks."""

from reprlab.metric.clusters import ClusterIndex, per_class_kmeans
from reprlab.metric.objectives import (
    OBJECTIVES,
    MagnetObjective,
    ProxyAnchorObjective,
    RepMetObjective,
    TripletObjective,
)
from reprlab.metric.sampler import MagnetBatchLoader, MagnetBatchSampler

__all__ = [
    "OBJECTIVES",
    "ClusterIndex",
    "MagnetBatchLoader",
    "MagnetBatchSampler",
    "MagnetObjective",
    "ProxyAnchorObjective",
    "RepMetObjective",
    "TripletObjective",
    "per_class_kmeans",
]
