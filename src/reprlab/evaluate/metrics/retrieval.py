"""Retrieval scores of codes (``reprlab.evaluate.retrieval``), on at most ``max_points``
images of the split."""

from reprlab.evaluate.context import EvalContext
from reprlab.evaluate.retrieval import retrieval_scores


def retrieval(ctx: EvalContext) -> dict:
    """precision@1, R-precision and MAP@R of codes (pytorch-metric-learning's definitions)"""
    rows = ctx.subset()
    labels = ctx.split().labels.numpy()[rows]
    return retrieval_scores(ctx.codes()[rows], labels, device=ctx.device)
