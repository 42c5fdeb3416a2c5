"""Study-level figures (matplotlib, Agg, PNG bytes): bar charts with confidence intervals
and training curves averaged over seeds. Per-run figures come from ``reprlab.viz``."""

from __future__ import annotations

import io
import math
import re

import numpy as np

from reprlab.rundir import RunDir
from reprlab.study.glossary import axis_bottom
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
    """Mean per cell with the 95 % t-interval as error bars and each seed as a dot.

    Bars start at zero (or at the metric's lower bound, ``glossary.axis_bottom``); a metric
    whose range is unbounded below or crosses zero is drawn as points with intervals on an
    axis fitted to the data, since a bar's length would mean nothing."""
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
    seeds = [v for s in stats_ for v in s.values.values()]
    bottom = axis_bottom(metric, seeds)
    if bottom is None:
        ax.errorbar(x, means, yerr=errors, fmt="none", ecolor="#333333", capsize=4)
        ax.scatter(x, means, s=60, c=colours, edgecolors="#333333", zorder=2, marker="D")
    else:
        ax.bar(x, means - bottom, bottom=bottom, yerr=errors, color=colours, capsize=4,
               edgecolor="#333333", linewidth=0.5)  # fmt: skip
        ax.set_ylim(bottom=bottom)
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
    return _png(fig)


#: logged columns that are bookkeeping, not curves
NOT_CURVES = {"epoch", "step", "time", "wall_time", "lr", "seconds", "images_per_s"}


def curve_columns(columns: dict[str, list[float]]) -> tuple[str | None, list[str]]:
    """The x column (``epoch`` or ``step``) and the y columns worth plotting: losses first,
    then the adaptive loss's ``alpha_mean`` and ``scale_mean`` (their ``_min``/``_max`` are
    drawn as bands); timings and the learning rate are left out."""
    x = next((c for c in ("epoch", "step") if c in columns), None)
    ys = [
        c
        for c in columns
        if c not in NOT_CURVES
        and not c.endswith(("_s", "_min", "_max"))
        and any(math.isfinite(v) for v in columns[c])
    ]
    ys.sort(key=lambda c: (0 if "loss" in c else 2 if c.endswith("_mean") else 1, c))
    return x, ys


def _runs_curves(results: Results, grid: str) -> dict[str, list[dict[str, list[float]]]]:
    """Each cell's name -> the logged curves of its finished (or diverged) seeds."""
    per_cell: dict[str, list[dict[str, list[float]]]] = {}
    for cell in results.grids().get(grid, []):
        for record in sorted(results.records, key=lambda r: r.seed):
            if cell.key in record.cells and record.status in ("done", "diverged"):
                columns = RunDir(record.path).read_curves()
                if columns:
                    per_cell.setdefault(cell.name, []).append(columns)
    return per_cell


def _same_as(columns: list[dict[str, list[float]]], a: str, b: str) -> bool:
    return all(a in c and b in c and np.allclose(c[a], c[b], equal_nan=True) for c in columns)


def training_curves(results: Results, grid: str) -> bytes | None:
    """One panel per (quantity, cell): rows are the logged losses and the adaptive loss's
    alpha and scale, each panel on its own y axis (cells may train different losses); columns
    are the cells.
    Each seed is a thin line, the mean over seeds a thick one; alpha and scale show their
    range over dimensions (min to max) as a band."""
    per_cell = _runs_curves(results, grid)
    if not per_cell:
        return None
    every = [c for runs in per_cell.values() for c in runs]
    xname, _ = curve_columns(every[0])
    names = list(dict.fromkeys(n for c in every for n in curve_columns(c)[1]))
    # a term equal to the total loss in every run (an autoencoder's only term) is drawn once
    names = [
        n for n in names if n == "loss" or "loss" not in names or not _same_as(every, n, "loss")
    ]
    if not names:
        return None
    plt = _pyplot()
    cols = len(per_cell)
    fig, axes = plt.subplots(
        len(names), cols, figsize=(min(2.6 * cols + 0.8, 16), 1.9 * len(names) + 0.6),
        squeeze=False, sharex=True,
    )  # fmt: skip
    for j, (cell, runs) in enumerate(per_cell.items()):
        axes[0][j].set_title(cell, fontsize=9)
        for i, name in enumerate(names):
            ax = axes[i][j]
            series = [r for r in runs if name in r]
            for r in series:
                xs = r[xname] if xname in r else np.arange(len(r[name]))
                ax.plot(xs, r[name], color="#7fa7d6", linewidth=0.7, alpha=0.8)
                low, high = name.replace("_mean", "_min"), name.replace("_mean", "_max")
                if name.endswith("_mean") and low in r and high in r:
                    ax.fill_between(xs, r[low], r[high], color="#7fa7d6", alpha=0.15, lw=0)
            if series:
                length = min(len(r[name]) for r in series)
                mean = np.nanmean([np.asarray(r[name][:length], float) for r in series], axis=0)
                xs = series[0][xname][:length] if xname in series[0] else np.arange(length)
                ax.plot(xs, mean, color="#1f5fa8", linewidth=1.6)
            if j == 0:
                ax.set_ylabel(name, fontsize=8)
            ax.tick_params(labelsize=7)
            ax.grid(alpha=0.3)
        axes[-1][j].set_xlabel(xname or "row", fontsize=8)
    fig.tight_layout()
    return _png(fig)


def metric_families(metrics: list[str]) -> dict[str, dict[str, list[str]]]:
    """Metrics that differ only by a label (``.../per_label/3/...``) or by k (``...@10``):
    ``{'per label': {template: [names]}, 'per k': {...}}``, templates with two or more
    members only; a name belongs to its per-label family before its per-k one."""
    per_label: dict[str, list[str]] = {}
    per_k: dict[str, list[str]] = {}
    for m in metrics:
        if re.search(r"/per_label/[^/]+/", m):
            per_label.setdefault(re.sub(r"/per_label/[^/]+/", "/per_label/{label}/", m), []).append(
                m
            )
        elif re.search(r"@\d+", m):
            per_k.setdefault(re.sub(r"@\d+", "@k", m), []).append(m)

    def keep(d: dict[str, list[str]]) -> dict[str, list[str]]:
        return {t: d[t] for t in sorted(d, key=_natural) if len(d[t]) >= 2}

    return {"per label": keep(per_label), "per k": keep(per_k)}


def _natural(text: str) -> list:
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", text)]


def family_key(template: str, metric: str) -> str:
    """The label or k that ``metric`` has in place of ``{label}`` or ``@k``."""
    if "{label}" in template:
        return re.search(r"/per_label/([^/]+)/", metric).group(1)
    return re.search(r"@(\d+)", metric).group(1)


def _sort_key(text: str):
    return (0, int(text)) if text.isdigit() else (1, text)


def heatmaps(
    results: Results, grid: str, family: dict[str, list[str]], key_name: str
) -> bytes | None:
    """Small multiples: one heatmap per template, cells as rows and labels (or k) as columns,
    each square the mean over seeds, written in the square; the colour scale is per panel."""
    cells = results.grids().get(grid, [])
    panels = []
    for template, names in family.items():
        keys = sorted({family_key(template, m) for m in names}, key=_sort_key)
        by_key = {family_key(template, m): m for m in names}
        grid_values = np.full((len(cells), len(keys)), np.nan)
        for i, cell in enumerate(cells):
            for j, key in enumerate(keys):
                s = results.stat(cell, by_key[key])
                if s is not None and s.n:
                    grid_values[i, j] = s.mean
        if np.isfinite(grid_values).any():
            panels.append((template, keys, grid_values, names[0]))
    if not panels:
        return None
    plt = _pyplot()
    widest = max(len(p[1]) for p in panels)
    ncols = min(3 if widest <= 6 else 2, len(panels))
    nrows = math.ceil(len(panels) / ncols)
    width = min(0.42 * widest + 1.6, 6.0)
    fig, axes = plt.subplots(
        nrows, ncols, figsize=(width * ncols, 0.32 * len(cells) * nrows + 1.0 * nrows + 0.4),
        squeeze=False,
    )  # fmt: skip
    for ax in axes.flat[len(panels) :]:
        ax.axis("off")
    for ax, (template, keys, values, member) in zip(axes.flat, panels):
        direction = results.directions.get(member)
        cmap = "viridis_r" if direction == "lower" else "viridis"
        image = ax.imshow(values, aspect="auto", cmap=cmap)
        ax.set_xticks(range(len(keys)), keys, fontsize=7)
        ax.set_yticks(range(len(cells)), [c.name for c in cells], fontsize=7)
        ax.set_xlabel(key_name, fontsize=7)
        ax.set_title(template + arrow(direction), fontsize=8)
        finite = values[np.isfinite(values)]
        middle = (finite.min() + finite.max()) / 2 if finite.size else 0
        if len(keys) <= 12:
            for (i, j), v in np.ndenumerate(values):
                if math.isfinite(v):
                    dark = (v < middle) != (cmap.endswith("_r"))
                    ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6,
                            color="white" if dark else "black")  # fmt: skip
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.02).ax.tick_params(labelsize=6)
    fig.tight_layout()
    return _png(fig)
