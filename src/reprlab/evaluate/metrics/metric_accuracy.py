"""Seed 003's accuracies of a metric-learning embedder (``reprlab.evaluate.metric_accuracy``)."""

from reprlab.evaluate.context import EvalContext


def metric_accuracy(ctx: EvalContext) -> dict:
    """seed 003's simple, Magnet, RepMet, batch and k-means accuracies of an embedder"""
    # lazy: scikit-learn and scipy load only when the metric runs ('reprlab eval --help' stays fast)
    from reprlab.evaluate.metric_accuracy import metric_accuracies

    return metric_accuracies(ctx.model, ctx.dataset, seed=ctx.seed)
