"""Figures as PNG files (matplotlib's Agg backend), each written atomically.

Every function takes plain arrays and a path, draws one figure and returns the path.
"""

import math
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from reprlab.atomic import atomic_path
from reprlab.viz.projection import mds, project_2d, to_sphere

VIEW = {"elev": 20.0, "azim": 35.0}  # the sphere's fixed viewpoint, degrees


def _save(fig, path) -> Path:
    path = Path(path)
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=120, bbox_inches="tight")
    plt.close(fig)
    return path


def _label_colours(labels):
    labels = np.asarray(labels)
    classes = np.unique(labels)
    cmap = plt.get_cmap("tab10" if len(classes) <= 10 else "tab20")
    return classes, {c: cmap(i % cmap.N) for i, c in enumerate(classes)}


def _legend(ax, classes, colours, names):
    if len(classes) > 20:
        return
    handles = [
        plt.Line2D([], [], marker="o", ls="", color=colours[c], label=names[c] if names else str(c))
        for c in classes
    ]
    ax.legend(handles=handles, fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5))


def scatter_codes(codes, labels, path, method="auto", class_names=None, seed=0, title=None):
    """Codes coloured by label in 2-D (seed 004), projected when they have more dimensions."""
    xy, used = project_2d(codes, method, seed)
    classes, colours = _label_colours(labels)
    fig, ax = plt.subplots(figsize=(6, 5))
    labels = np.asarray(labels)
    ax.scatter(xy[:, 0], xy[:, 1], s=3, c=[colours[c] for c in labels], alpha=0.7, linewidths=0)
    _legend(ax, classes, colours, class_names)
    ax.set_title(title or f"codes ({used})")
    ax.set_xlabel(f"{used} 1")
    ax.set_ylabel(f"{used} 2")
    return _save(fig, path)


def sphere_codes(
    codes, labels, path, trim=0.0, landmarks=500, class_names=None, seed=0, title=None
):
    """3-D MDS projection of the codes scaled onto the unit sphere (seed 000), seen from the
    fixed viewpoint ``VIEW``; ``trim`` drops that fraction of points farthest from the centre."""
    points, kept = to_sphere(mds(codes, 3, landmarks, seed), trim)
    labels = np.asarray(labels)[kept]
    classes, colours = _label_colours(labels)
    fig = plt.figure(figsize=(6, 6))
    ax = fig.add_subplot(projection="3d")
    u, v = np.mgrid[0 : 2 * np.pi : 24j, 0 : np.pi : 12j]
    ax.plot_wireframe(np.cos(u) * np.sin(v), np.sin(u) * np.sin(v), np.cos(v), color="0.85", lw=0.3)
    ax.scatter(*points.T, s=3, c=[colours[c] for c in labels], alpha=0.8, depthshade=False)
    ax.view_init(**VIEW)
    ax.set_box_aspect((1, 1, 1))
    ax.set_axis_off()
    _legend(ax, classes, colours, class_names)
    ax.set_title(title or f"codes on the sphere (MDS{f', {trim:.0%} trimmed' if trim else ''})")
    return _save(fig, path)


def _tile(images, columns):
    """``[N, C, H, W]`` images in [0, 1] -> one ``[rows*H, columns*W, C]`` array."""
    x = np.clip(np.asarray(images, dtype=np.float64), 0, 1)
    n, c, h, w = x.shape
    rows = math.ceil(n / columns)
    canvas = np.ones((rows * (h + 1) - 1, columns * (w + 1) - 1, c))
    for i in range(n):
        r, col = divmod(i, columns)
        canvas[r * (h + 1) : r * (h + 1) + h, col * (w + 1) : col * (w + 1) + w] = x[i].transpose(
            1, 2, 0
        )
    return canvas[..., 0] if c == 1 else canvas


def _grid_figure(canvas, path, title, ylabel=None):
    fig, ax = plt.subplots(figsize=(max(4, canvas.shape[1] / 20), max(2, canvas.shape[0] / 20)))
    ax.imshow(
        canvas, cmap="gray" if canvas.ndim == 2 else None, vmin=0, vmax=1, interpolation="nearest"
    )
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title)
    if ylabel:
        ax.set_ylabel(ylabel)
    return _save(fig, path)


def reconstruction_grid(
    inputs, outputs, path, columns=10, title="inputs (top) and reconstructions (bottom)"
):
    """Each row of ``columns`` inputs above the same images' reconstructions."""
    inputs, outputs = np.asarray(inputs)[:columns], np.asarray(outputs)[:columns]
    return _grid_figure(_tile(np.concatenate([inputs, outputs]), len(inputs)), path, title)


def sample_grid(samples, path, columns=10, title="samples from the prior"):
    """Images decoded from prior samples, in a grid."""
    return _grid_figure(_tile(samples, columns), path, title)


def training_curves(columns: dict, path, title="training curves"):
    """One panel per logged quantity against epoch (``val_X`` drawn with ``X``), from the
    columns of ``logs/metrics.csv``."""
    skip = {"epoch", "step", "seconds", "images_per_s"}
    names = [k for k in columns if k not in skip and not k.startswith("val_")]
    # a term equal to the loss at every epoch (the reconstruction of a plain autoencoder)
    # would repeat its panel
    names = [k for k in names if k == "loss" or columns[k] != columns.get("loss")]
    epochs = columns.get("epoch") or list(range(1, len(next(iter(columns.values()), [])) + 1))
    panels = max(1, len(names))
    width = min(panels, 3)
    fig, axes = plt.subplots(
        math.ceil(panels / width),
        width,
        figsize=(4 * width, 3 * math.ceil(panels / width)),
        squeeze=False,
        layout="constrained",
    )
    for ax, name in zip(axes.flat, names):
        ax.plot(epochs, columns[name], label="train", marker="." if len(epochs) < 30 else None)
        if f"val_{name}" in columns:
            ax.plot(epochs, columns[f"val_{name}"], label="val")
            ax.legend(fontsize=7)
        ax.set_title(name, fontsize=9)
        ax.set_xlabel("epoch")
        if name == "lr" or (name == "loss" and min(columns[name]) > 0):
            ax.set_yscale("log")
    for ax in list(axes.flat)[len(names) :]:
        ax.set_visible(False)
    fig.suptitle(title)
    return _save(fig, path)
