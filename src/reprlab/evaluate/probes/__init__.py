"""Probes: classifiers fitted on train codes and scored on test codes (seeds 000, 001).

`LinearProbe`, `MLPProbe` and `KNNProbe` are scikit-learn classifiers in torch that train on
the features' device and choose their hyperparameters on a validation split of the training
rows (``chosen_``); the probe functions in ``PROBES`` fit one on train codes and score it on
test codes.
"""

from reprlab.evaluate.probes.base import EPS, Probe, cross_entropy, score, validation_split
from reprlab.evaluate.probes.functional import (
    PROBES,
    boosting_probe,
    forest_probe,
    full_proba,
    knn_probe,
    logistic_probe,
    mlp_probe,
)
from reprlab.evaluate.probes.knn import KNNProbe
from reprlab.evaluate.probes.linear import LinearProbe
from reprlab.evaluate.probes.mlp import MLPProbe

__all__ = [
    "EPS",
    "PROBES",
    "KNNProbe",
    "LinearProbe",
    "MLPProbe",
    "Probe",
    "boosting_probe",
    "cross_entropy",
    "forest_probe",
    "full_proba",
    "knn_probe",
    "logistic_probe",
    "mlp_probe",
    "score",
    "validation_split",
]
