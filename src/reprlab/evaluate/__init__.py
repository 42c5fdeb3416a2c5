"""Judging representations: ``embed``, exact ``knn``, one pure core per measure (probes,
neighbours, clustering, retrieval, reconstruction, fid, metric_accuracy), their adapters in
``metrics/`` (``METRICS`` is the registry), and ``evaluate(run_dir, metrics)`` writing
``metrics.json``; ``figures`` draws a run's figures through ``reprlab.viz``."""

from reprlab.evaluate.context import EvalContext, NotApplicable
from reprlab.evaluate.embed import decode_prior, embed, reconstruct
from reprlab.evaluate.knn import knn
from reprlab.evaluate.metrics import DEFAULT_METRICS, METRICS
from reprlab.evaluate.options import OPTIONS
from reprlab.evaluate.pml import ExactKNN
from reprlab.evaluate.retrieval import retrieval_scores
from reprlab.evaluate.run import evaluate, evaluate_loaded

__all__ = [
    "DEFAULT_METRICS",
    "METRICS",
    "OPTIONS",
    "EvalContext",
    "ExactKNN",
    "NotApplicable",
    "decode_prior",
    "embed",
    "evaluate",
    "evaluate_loaded",
    "knn",
    "reconstruct",
    "retrieval_scores",
]
