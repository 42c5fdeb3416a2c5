"""Figures of a representation: codes in 2-D and on the MDS sphere, reconstruction and
prior-sample grids, training curves. ``FIGURES`` maps names to functions of
``(run_dir, model, dataset, options)``; ``draw_figures`` draws the named ones into
``run_dir/figures/NAME.png``."""

import csv
import math
from pathlib import Path

import numpy as np
import torch

from reprlab.registry import lookup
from reprlab.viz.figures import (
    reconstruction_grid,
    sample_grid,
    scatter_codes,
    sphere_codes,
    training_curves,
)
from reprlab.viz.projection import classical_mds, landmark_mds, mds, project_2d, to_sphere

SCATTER_POINTS = 5000  # t-SNE on more points takes minutes on a laptop


def _points(dataset, options, limit):
    split = dataset.splits[options.get("split", "test")]
    rows = np.arange(len(split))
    if len(rows) > limit:
        rows = np.sort(
            np.random.default_rng(options.get("seed", 0)).choice(len(rows), limit, replace=False)
        )
    return split.images[torch.as_tensor(rows)], split.labels.numpy()[rows]


def _codes(model, images, options):
    from reprlab.evaluate.embed import embed

    return embed(model, images, options.get("batch_size", 500)).numpy()


def scatter(run_dir, model, dataset, options):
    """codes coloured by label in 2-D (t-SNE or UMAP when the code has more dimensions)"""
    images, labels = _points(dataset, options, SCATTER_POINTS)
    return scatter_codes(
        _codes(model, images, options), labels, Path(run_dir, "figures", "scatter.png"),
        options.get("projection", "auto"), dataset.classes, options.get("seed", 0),
    )  # fmt: skip


def sphere(run_dir, model, dataset, options):
    """3-D MDS of the codes scaled onto the unit sphere, 5 % outliers trimmed (seed 000)"""
    images, labels = _points(dataset, options, options.get("max_points", 10000))
    return sphere_codes(
        _codes(model, images, options), labels, Path(run_dir, "figures", "sphere.png"),
        trim=options.get("trim", 0.05), class_names=dataset.classes, seed=options.get("seed", 0),
    )  # fmt: skip


def reconstructions(run_dir, model, dataset, options):
    """ten test images above their reconstructions"""
    from reprlab.evaluate.embed import reconstruct
    from reprlab.evaluate.runner import NotApplicable, has_decoder

    if not has_decoder(model):
        raise NotApplicable("the model has no decoder")
    images, _ = _points(dataset, {**options, "seed": options.get("seed", 0)}, 10)
    outputs = reconstruct(model, images)
    return reconstruction_grid(
        images.float() / 255, outputs, Path(run_dir, "figures", "reconstructions.png")
    )


def samples(run_dir, model, dataset, options):
    """a grid of images decoded from prior samples (VAEs)"""
    from reprlab.evaluate.runner import prior_samples

    with torch.no_grad():
        images = prior_samples(model.eval(), dataset.image_shape, 50, options.get("seed", 0))
    return sample_grid(images, Path(run_dir, "figures", "samples.png"))


def curves(run_dir, model, dataset, options):
    """training curves from logs/metrics.csv"""
    path = Path(run_dir, "logs", "metrics.csv")
    if not path.is_file():
        from reprlab.evaluate.runner import NotApplicable

        raise NotApplicable("the run has no logs/metrics.csv")
    with open(path, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    columns = {}
    for key in rows[0] if rows else []:
        try:
            columns[key] = [float(r[key]) if r[key] not in ("", None) else math.nan for r in rows]
        except ValueError:
            continue
    return training_curves(columns, Path(run_dir, "figures", "curves.png"))


FIGURES = {
    "scatter": scatter,
    "sphere": sphere,
    "reconstructions": reconstructions,
    "samples": samples,
    "curves": curves,
}


def describe_figure(name: str) -> str:
    return (FIGURES[name].__doc__ or "").strip().splitlines()[0]


def draw_figures(run_dir, model, dataset, names, options=None) -> dict:
    """Draw the named figures; returns ``{name: path}`` for those drawn and
    ``{name: reason}`` under ``"skipped"`` for those that do not apply."""
    from reprlab.evaluate.runner import NotApplicable

    functions = {name: lookup(FIGURES, name, "figure") for name in names}
    drawn: dict = {}
    for name, function in functions.items():
        try:
            drawn[name] = function(run_dir, model, dataset, dict(options or {}))
        except NotApplicable as reason:
            drawn.setdefault("skipped", {})[name] = str(reason)
    return drawn


__all__ = [
    "FIGURES",
    "classical_mds",
    "draw_figures",
    "landmark_mds",
    "mds",
    "project_2d",
    "reconstruction_grid",
    "sample_grid",
    "scatter_codes",
    "sphere_codes",
    "to_sphere",
    "training_curves",
]
