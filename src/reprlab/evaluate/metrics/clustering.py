"""Clustering of codes (``reprlab.evaluate.clustering``)."""

from reprlab.evaluate.context import EvalContext


def clustering(ctx: EvalContext) -> dict:
    """k-means on codes (one cluster per class): Hungarian accuracy, NMI, AMI"""
    # lazy: scikit-learn and scipy load only when the metric runs ('reprlab eval --help' stays fast)
    from reprlab.evaluate.clustering import kmeans_scores

    return kmeans_scores(ctx.codes(), ctx.split().labels.numpy(), seed=ctx.seed)
