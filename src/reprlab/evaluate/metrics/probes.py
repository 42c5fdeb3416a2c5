"""Probe metrics: a classifier fit on the train split's codes, scored on the evaluated split
(``reprlab.evaluate.probes``)."""

import inspect

from reprlab.evaluate.context import EvalContext
from reprlab.evaluate.probes import PROBES


def _probe(ctx: EvalContext, name: str, inputs: str = "codes") -> dict:
    """The probe ``name`` on ``inputs``: ``codes`` (sampled when the ``sample`` option is set)
    or ``sampled`` (posterior samples, seed 000)."""
    sample = ctx.sample if inputs == "codes" else True
    train, test = ctx.codes("train", sample), ctx.codes(None, sample)
    probe = PROBES[name]
    kwargs = {"seed": ctx.seed} if "seed" in inspect.signature(probe).parameters else {}
    return probe(
        train, ctx.split("train").labels.numpy(), test, ctx.split().labels.numpy(),
        num_classes=ctx.dataset.num_classes, **kwargs,
    )  # fmt: skip


def probe_logistic(ctx: EvalContext) -> dict:
    """linear probe: logistic regression on train codes, accuracy and cross-entropy on test"""
    return _probe(ctx, "logistic")


def probe_mlp(ctx: EvalContext) -> dict:
    """MLP probe (one hidden layer, early stopping) on train codes, scored on test codes"""
    return _probe(ctx, "mlp")


def probe_mlp_sampled(ctx: EvalContext) -> dict:
    """MLP probe on sampled posterior codes z ~ q(z|x) (seed 000's classifier), VAEs only"""
    return _probe(ctx, "mlp", "sampled")


def probe_pixels(ctx: EvalContext) -> dict:
    """reference: a small conv classifier on raw pixels (seed 001's image classifier)"""
    from reprlab.evaluate.pixel_probe import pixel_probe

    return pixel_probe(ctx.dataset, ctx.split(), ctx.seed, ctx.fid_epochs, ctx.fid_min_steps)


def probe_knn(ctx: EvalContext) -> dict:
    """10-nearest-neighbour classifier on train codes, scored on test codes"""
    return _probe(ctx, "knn")


def probe_forest(ctx: EvalContext) -> dict:
    """random forest (200 trees, depth 30; seed 001) on train codes (slow on big sets)"""
    return _probe(ctx, "forest")


def probe_boosting(ctx: EvalContext) -> dict:
    """gradient boosting (CatBoost if installed, else HistGradientBoosting) on train codes"""
    return _probe(ctx, "boosting")
