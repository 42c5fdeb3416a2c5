"""Study-level figures (matplotlib, Agg, PNG bytes): bar charts with confidence intervals
and training curves averaged over seeds. Per-run figures come from ``reprlab.viz``."""

from __future__ import annotations

import io
import math

import numpy as np

from reprlab.rundir import RunDir
from reprlab.study.results import Results, arrow

BEST, TIED, OTHER = "#1f5fa8", "#7fa7d6", "#c9c9c9"


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def _png(fig) -> bytes:
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    _pyplot().close(fig)
    return buffer.getvalue()


def bar_chart(results: Results, grid: str, metric: str) -> bytes | None:
    """Mean per cell with the 95 % t-interval as error bars and each seed as a dot."""
    cells = [c for c in results.grids().get(grid, []) if results.stat(c, metric)]
    if not cells:
        return None
    plt = _pyplot()
    stats_ = [results.stat(c, metric) for c in cells]
    means = np.array([s.mean for s in stats_])
    errors = np.array([s.half_width if math.isfinite(s.half_width) else 0.0 for s in stats_])
    colours = [BEST if s.best else TIED if s.tied else OTHER for s in stats_]
    fig, ax = plt.subplots(figsize=(max(4.0, 0.6 * len(cells) + 2), 3.2))
    x = np.arange(len(cells))
    ax.bar(x, means, yerr=errors, color=colours, capsize=4, edgecolor="#333333", linewidth=0.5)
    rng = np.random.default_rng(0)
    for i, s in enumerate(stats_):
        ys = list(s.values.values())
        ax.scatter(i + rng.uniform(-0.15, 0.15, len(ys)), ys, s=10, color="black", zorder=3)
    ax.set_xticks(
        x,
        [c.name for c in cells],
        rotation=30 if len(cells) > 4 else 0,
        ha="right" if len(cells) > 4 else "center",
    )
    ax.set_title(metric + arrow(results.directions.get(metric)), fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    finite = means[np.isfinite(means)]
    if finite.size and np.all(finite > 0) and finite.min() > 0.5 * finite.max():
        low = float(np.nanmin(means - errors))
        ax.set_ylim(bottom=max(0.0, low - 0.1 * (finite.max() - low + 1e-12)))
    return _png(fig)


def curve_columns(columns: dict[str, list[float]]) -> tuple[str | None, list[str]]:
    """The x column (``epoch`` or ``step``) and the y columns worth plotting (losses first)."""
    x = next((c for c in ("epoch", "step") if c in columns), None)
    ys = [
        c
        for c in columns
        if c not in {"epoch", "step", "time", "wall_time", "lr"}
        and not c.endswith("_s")
        and any(math.isfinite(v) for v in columns[c])
    ]
    ys.sort(key=lambda c: (0 if "loss" in c else 1, c))
    return x, ys[:4]


def training_curves(results: Results, grid: str) -> bytes | None:
    """Each logged column against epochs: the mean over a cell's finished seeds."""
    per_cell: dict[str, list[dict[str, list[float]]]] = {}
    for cell in results.grids().get(grid, []):
        for record in results.records:
            if cell.key in record.cells and record.status in ("done", "diverged"):
                columns = RunDir(record.path).read_curves()
                if columns:
                    per_cell.setdefault(cell.name, []).append(columns)
    if not per_cell:
        return None
    first = next(iter(per_cell.values()))[0]
    xname, ynames = curve_columns(first)
    if not ynames:
        return None
    plt = _pyplot()
    fig, axes = plt.subplots(1, len(ynames), figsize=(4 * len(ynames), 3.0), squeeze=False)
    for ax, yname in zip(axes[0], ynames):
        for name, runs in per_cell.items():
            series = [r[yname] for r in runs if yname in r]
            if not series:
                continue
            length = min(len(s) for s in series)
            y = (
                np.nanmean(np.array([s[:length] for s in series], dtype=float), axis=0)
                if length
                else np.array([])
            )
            rows = [v for v in y if math.isfinite(v)]
            if not rows:
                continue
            xs = runs[0][xname][:length] if xname and xname in runs[0] else np.arange(length)
            ax.plot(xs, y, label=name, linewidth=1.2)
        ax.set_title(yname, fontsize=10)
        ax.set_xlabel(xname or "row")
        ax.grid(alpha=0.3)
    axes[0][0].legend(fontsize=7)
    return _png(fig)
