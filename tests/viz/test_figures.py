"""Each figure is a PNG of the expected size, written atomically (no temporary files left)."""

import numpy as np
from PIL import Image

from reprlab.viz.figures import (
    reconstruction_grid,
    sample_grid,
    scatter_codes,
    sphere_codes,
    training_curves,
)


def is_png(path):
    with Image.open(path) as image:
        return image.format == "PNG" and min(image.size) > 50


def test_figures_are_written(tmp_path):
    rng = np.random.default_rng(0)
    codes, labels = rng.normal(size=(200, 6)), rng.integers(0, 3, 200)
    images = rng.random((10, 1, 8, 8))
    paths = [
        scatter_codes(codes, labels, tmp_path / "a" / "scatter.png", method="pca"),
        scatter_codes(codes[:, :2], labels, tmp_path / "scatter2.png", class_names=["x", "y", "z"]),
        sphere_codes(codes, labels, tmp_path / "sphere.png", trim=0.05),
        reconstruction_grid(images, images[::-1], tmp_path / "rec.png"),
        sample_grid(rng.random((25, 3, 8, 8)), tmp_path / "samples.png", columns=5),
        training_curves(
            {
                "epoch": [1, 2, 3],
                "loss": [3.0, 2.0, 1.5],
                "val_loss": [3.2, 2.5, 2.0],
                "kl": [0, 1, 1],
            },
            tmp_path / "curves.png",
        ),
    ]
    assert all(is_png(p) for p in paths)
    assert not list(tmp_path.rglob("*.tmp"))


def test_reconstruction_grid_puts_inputs_above_outputs(tmp_path):
    inputs = np.zeros((4, 1, 6, 6))
    outputs = np.ones((4, 1, 6, 6))
    from reprlab.viz.figures import _tile

    canvas = _tile(np.concatenate([inputs, outputs]), 4)
    assert canvas.shape == (13, 27)
    assert canvas[:6, :6].max() == 0 and canvas[7:, :6].min() == 1


def test_viz_imports_no_evaluation_code():
    """viz draws from arrays: it may import only reprlab.atomic, errors and registry."""
    import json
    import subprocess
    import sys

    code = "import json, sys, reprlab.viz; print(json.dumps(sorted(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    ours = {m for m in json.loads(out.stdout) if m.startswith("reprlab.")}
    allowed = {"reprlab.atomic", "reprlab.errors", "reprlab.registry"}
    assert "reprlab.viz.figures" in ours
    assert {m for m in ours if not m.startswith("reprlab.viz")} <= allowed


def test_training_curves_leave_out_a_term_equal_to_the_loss(tmp_path, monkeypatch):
    """A plain autoencoder logs its reconstruction term equal to its loss; drawing both would
    repeat a panel. A term that differs keeps its own."""
    import matplotlib.pyplot as plt

    drawn = []
    subplots = plt.subplots

    def counting(rows, cols, **kwargs):
        fig, axes = subplots(rows, cols, **kwargs)
        drawn.append(axes)
        return fig, axes

    monkeypatch.setattr(plt, "subplots", counting)
    same = {"epoch": [1, 2], "loss": [2.0, 1.0], "reconstruction": [2.0, 1.0], "lr": [1, 1]}
    training_curves(same, tmp_path / "same.png")
    training_curves({**same, "reconstruction": [1.5, 0.5]}, tmp_path / "differs.png")
    titles = [[ax.get_title() for ax in axes.flat if ax.get_visible()] for axes in drawn]
    assert titles == [["loss", "lr"], ["loss", "reconstruction", "lr"]]
