"""Judging representations: ``embed``, exact ``knn``, one small evaluator per measure, and
``evaluate(run_dir, metrics)`` writing ``metrics.json``; ``METRICS`` is the registry."""

from reprlab.evaluate.embed import embed, reconstruct
from reprlab.evaluate.knn import knn
from reprlab.evaluate.runner import DEFAULT_METRICS, METRICS, evaluate, evaluate_loaded

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "embed",
    "evaluate",
    "evaluate_loaded",
    "knn",
    "reconstruct",
]
