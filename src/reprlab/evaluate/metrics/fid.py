"""FID of reconstructions and prior samples (``reprlab.evaluate.fid``)."""

from reprlab.evaluate.context import EvalContext, NotApplicable
from reprlab.evaluate.fid import domain_classifier
from reprlab.evaluate.fid import fid as frechet


def fid(ctx: EvalContext) -> dict:
    """FID of reconstructions and of prior samples against the split, in domain-CNN features"""
    ctx.require("has_decoder")
    extractor, info = domain_classifier(ctx.dataset, ctx.seed, ctx.fid_epochs, ctx.fid_min_steps)
    real = ctx.split().images
    out = {"reconstruction": frechet(extractor, real, ctx.reconstructions().clamp(0, 1)), **info}
    try:
        samples = ctx.prior_images(min(ctx.prior_samples, len(real)))
        out["prior"] = frechet(extractor, real, samples)
    except NotApplicable as reason:
        out["prior_skipped"] = str(reason)
    return out
