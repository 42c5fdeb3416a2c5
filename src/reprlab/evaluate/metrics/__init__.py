"""The metrics registry: ``METRICS`` maps a name to an adapter ``metric(ctx) -> dict``.

Every adapter has that one signature: it reads what it needs from an ``EvalContext`` (cached
codes and reconstructions, the options, the model's capability flags), calls a pure core of
``reprlab.evaluate`` (probes, knn, neighbours, clustering, retrieval, reconstruction, fid,
metric_accuracy) and returns that core's numbers; a metric that does not apply raises
``NotApplicable``. The first line of its docstring is what ``reprlab eval --help`` shows.
(The layout follows disentanglement_lib's ``evaluation/metrics``: thin modules around pure
cores, one small orchestrator.)
"""

from reprlab.evaluate.metrics.clustering import clustering
from reprlab.evaluate.metrics.fid import fid
from reprlab.evaluate.metrics.metric_accuracy import metric_accuracy
from reprlab.evaluate.metrics.neighbours import neighbours, trustworthiness
from reprlab.evaluate.metrics.probes import (
    probe_boosting,
    probe_forest,
    probe_knn,
    probe_logistic,
    probe_mlp,
    probe_mlp_sampled,
    probe_pixels,
)
from reprlab.evaluate.metrics.reconstruction import elbo, reconstruction
from reprlab.evaluate.metrics.retrieval import retrieval

METRICS = {
    "probe-logistic": probe_logistic,
    "probe-mlp": probe_mlp,
    "probe-mlp-sampled": probe_mlp_sampled,
    "probe-pixels": probe_pixels,
    "probe-knn": probe_knn,
    "probe-forest": probe_forest,
    "probe-boosting": probe_boosting,
    "neighbours": neighbours,
    "trustworthiness": trustworthiness,
    "clustering": clustering,
    "retrieval": retrieval,
    "reconstruction": reconstruction,
    "elbo": elbo,
    "fid": fid,
    "metric-accuracy": metric_accuracy,
}
# what evaluate computes when no names are given (the slow tree probes and seed 003's
# cluster accuracies are asked for by name)
DEFAULT_METRICS = [
    "probe-logistic", "probe-mlp", "probe-knn", "neighbours", "trustworthiness", "clustering",
    "retrieval", "reconstruction", "elbo", "fid",
]  # fmt: skip


def describe(name: str) -> str:
    """The one-line description of a metric."""
    return (METRICS[name].__doc__ or "").strip().splitlines()[0]
