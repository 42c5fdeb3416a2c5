"""Figure adapters: ``FIGURES`` maps a name to ``figure(ctx, path) -> Path``, which computes
what is drawn (codes, reconstructions, prior samples, training curves) from an
``EvalContext`` and hands plain arrays to a drawing function of ``reprlab.viz``.
``draw_figures`` draws the named ones into the run folder's ``figures/NAME.png``."""

from pathlib import Path

import torch

from reprlab.evaluate.context import EvalContext, NotApplicable
from reprlab.evaluate.embed import reconstruct
from reprlab.registry import lookup
from reprlab.viz import (
    reconstruction_grid,
    sample_grid,
    scatter_codes,
    sphere_codes,
    training_curves,
)

SCATTER_POINTS = 5000  # t-SNE on more points takes minutes on a laptop


def _codes_and_labels(ctx: EvalContext, limit: int):
    rows = ctx.rows(limit)
    return ctx.codes()[rows], ctx.split().labels.numpy()[rows]


def scatter(ctx: EvalContext, path: Path) -> Path:
    """codes coloured by label in 2-D (t-SNE or UMAP when the code has more dimensions)"""
    codes, labels = _codes_and_labels(ctx, SCATTER_POINTS)
    return scatter_codes(codes, labels, path, ctx.projection, ctx.dataset.classes, ctx.seed)


def sphere(ctx: EvalContext, path: Path) -> Path:
    """3-D MDS of the codes scaled onto the unit sphere, 5 % outliers trimmed (seed 000)"""
    codes, labels = _codes_and_labels(ctx, ctx.max_points)
    return sphere_codes(
        codes, labels, path, trim=ctx.trim, class_names=ctx.dataset.classes, seed=ctx.seed
    )


def reconstructions(ctx: EvalContext, path: Path) -> Path:
    """ten test images above their reconstructions"""
    ctx.require("has_decoder")
    images = ctx.split().images[torch.as_tensor(ctx.rows(10))]
    outputs = reconstruct(ctx.model, images, ctx.batch_size)
    return reconstruction_grid(images.float().numpy() / 255, outputs.numpy(), path)


def samples(ctx: EvalContext, path: Path) -> Path:
    """a grid of images decoded from prior samples (VAEs)"""
    return sample_grid(ctx.prior_images(50).numpy(), path)


def curves(ctx: EvalContext, path: Path) -> Path:
    """training curves from logs/metrics.csv"""
    columns = ctx.run_dir.read_curves() if ctx.run_dir is not None else {}
    if not columns:
        raise NotApplicable("the run has no logs/metrics.csv")
    return training_curves(columns, path)


FIGURES = {
    "scatter": scatter,
    "sphere": sphere,
    "reconstructions": reconstructions,
    "samples": samples,
    "curves": curves,
}


def describe_figure(name: str) -> str:
    """The one-line description of a figure."""
    return (FIGURES[name].__doc__ or "").strip().splitlines()[0]


def draw_figures(ctx: EvalContext, names) -> dict:
    """Draw the named figures into ``ctx.run_dir``'s ``figures/``; returns ``{name: path}``
    for those drawn and ``{name: reason}`` under ``"skipped"`` for those that do not apply."""
    functions = {name: lookup(FIGURES, name, "figure") for name in names}
    drawn: dict = {}
    for name, function in functions.items():
        try:
            drawn[name] = function(ctx, ctx.run_dir.figure(name))
        except NotApplicable as reason:
            drawn.setdefault("skipped", {})[name] = str(reason)
    return drawn
