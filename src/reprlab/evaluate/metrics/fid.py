"""FID of reconstructions and prior samples (``reprlab.evaluate.fid``), in the features of a
classifier trained on the evaluated data set, or on the data set named by the ``fid_data``
option (seed 001 used an MNIST classifier), resized to the evaluated images' shape."""

from reprlab.evaluate.context import EvalContext, NotApplicable
from reprlab.evaluate.fid import domain_classifier, resized_dataset
from reprlab.evaluate.fid import fid as frechet


def fid(ctx: EvalContext) -> dict:
    """FID of reconstructions and of prior samples against the split, in domain-CNN features"""
    ctx.require("has_decoder")
    source = ctx.dataset
    if ctx.fid_data:
        from reprlab.data import load_dataset

        source = resized_dataset(load_dataset(ctx.fid_data), ctx.dataset.image_shape)
    extractor, info = domain_classifier(
        source, ctx.seed, ctx.fid_epochs, ctx.fid_min_steps, ctx.device
    )
    real = ctx.split().images
    out = {"reconstruction": frechet(extractor, real, ctx.reconstructions().clamp(0, 1)), **info}
    try:
        samples = ctx.prior_images(min(ctx.prior_samples, len(real)))
        out["prior"] = frechet(extractor, real, samples)
    except NotApplicable as reason:
        out["prior_skipped"] = str(reason)
    return out
