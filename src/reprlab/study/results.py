"""Aggregate every metric over seeds per cell, and find the best cells.

For the finite values x_1..x_n of one metric in one cell (one per seed, finished runs only;
seeds whose value is NaN or missing are listed apart and not counted in n): mean, standard
deviation with ddof=1, and the 95 % interval of the mean: Student-t,
mean ± t_{0.975, n-1} · s / √n, or (``interval='bootstrap'``) the BCa bootstrap interval of
``scipy.stats.bootstrap`` (Efron 1987); undefined for n < 2. Per metric and grid the best
cell is the one with the best mean in the metric's direction; every other cell is compared
with it by a two-sided paired t-test across seeds (``scipy.stats.ttest_rel``), or Welch's
t-test (``scipy.stats.ttest_ind(equal_var=False)``) where the two cells' seeds differ. The
p-values of one column (a metric within a grid) are corrected together by Holm's step-down
method (Holm 1979, "A simple sequentially rejective multiple test procedure") unless
``correction='none'``; a cell is *tied* with the best when its corrected p ≥ α. Beside each
test stands an effect size: Cohen's d_z = mean(d) / sd(d) of the paired differences
d = other − best, or Cohen's d with the pooled standard deviation where the seeds differ.
"""

from __future__ import annotations

import csv
import fnmatch
import io
import json
import math
import re
import warnings
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from scipy import stats

from reprlab.study.expand import Cell
from reprlab.study.layout import RunRecord, load_records, read_index

PAIRED = "paired t-test (scipy.stats.ttest_rel)"
WELCH = "Welch's t-test (scipy.stats.ttest_ind, equal_var=False)"
CORRECTIONS = {
    "holm": "Holm-Bonferroni across the comparisons in each column",
    "none": "no multiple-comparison correction",
}
INTERVALS = {
    "t": "95 % Student-t interval",
    "bootstrap": "95 % BCa bootstrap interval (scipy.stats.bootstrap, 9999 resamples)",
}
BOOTSTRAP_RESAMPLES = 9999

# Words in a metric name that say which way is better; the last path component is tried first.
HIGHER = {
    "accuracy",
    "acc",
    "precision",
    "recall",
    "map",
    "r_precision",
    "map_at_r",
    "precision_at_1",
    "nmi",
    "ami",
    "ari",
    "f1",
    "auc",
    "elbo",
    "psnr",
    "ssim",
    "trustworthiness",
    "continuity",
    "improvement",
    "agreement",
    "purity",
}
LOWER = {
    "loss",
    "cross_entropy",
    "xent",
    "nll",
    "mse",
    "mae",
    "rmse",
    "fid",
    "bpd",
    "bits_per_dim",
    "error",
    "similarity",
    "seconds",
    "time",
}


def direction(metric: str, overrides: dict[str, str] | None = None) -> str | None:
    """``'higher'``, ``'lower'`` or ``None`` (unknown) for a flattened metric name.

    ``overrides`` maps names, group prefixes or glob patterns (``probe/*/loss``) to a
    direction and wins over the built-in word lists ``HIGHER`` and ``LOWER``.
    """
    for pattern, value in (overrides or {}).items():
        if (
            metric == pattern
            or metric.startswith(pattern.rstrip("/") + "/")
            or fnmatch.fnmatchcase(metric, pattern)
        ):
            return value
    for part in reversed(metric.lower().split("/")):
        for word in [part, *re.split(r"[^a-z0-9@]+", part)]:
            if word in HIGHER or word.startswith("score@"):
                return "higher"
            if word in LOWER or word.startswith("fid"):
                return "lower"
    return None


def bootstrap_interval(
    values: np.ndarray, confidence: float = 0.95, seed: int = 0
) -> tuple[float, float]:
    """The BCa bootstrap interval of the mean (``scipy.stats.bootstrap``, seeded); NaNs for
    fewer than two values or when BCa cannot be computed (e.g. all values equal)."""
    values = np.asarray(values, dtype=float)
    if len(values) < 2 or np.all(values == values[0]):
        return math.nan, math.nan
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        result = stats.bootstrap(
            (values,),
            np.mean,
            confidence_level=confidence,
            n_resamples=BOOTSTRAP_RESAMPLES,
            method="BCa",
            rng=np.random.default_rng(seed),
        )
    low, high = float(result.confidence_interval.low), float(result.confidence_interval.high)
    return (low, high) if math.isfinite(low) and math.isfinite(high) else (math.nan, math.nan)


def holm(p_values: list[float]) -> list[float]:
    """Holm's step-down adjusted p-values: sorted ascending, p_(i) · (m − i + 1) made
    monotone by a running maximum and capped at 1 (NaNs are left out and stay NaN)."""
    p = np.asarray(p_values, dtype=float)
    out = np.full(len(p), math.nan)
    finite = np.flatnonzero(np.isfinite(p))
    m = len(finite)
    order = finite[np.argsort(p[finite], kind="stable")]
    running = 0.0
    for i, idx in enumerate(order):
        running = max(running, min(1.0, p[idx] * (m - i)))
        out[idx] = running
    return out.tolist()


def effect_size(best: Stat, other: Stat) -> float:
    """Cohen's d_z of the paired differences ``other − best`` across shared seeds, or Cohen's
    d (pooled sd) when the seeds differ; NaN when undefined (n < 2 or zero spread)."""
    if best.n < 2 or other.n < 2:
        return math.nan
    if set(best.values) == set(other.values):
        d = np.array([other.values[s] - best.values[s] for s in sorted(best.values)])
        sd = float(d.std(ddof=1))
        return float(d.mean() / sd) if sd > 0 else (0.0 if np.all(d == 0) else math.nan)
    a, b = np.array(list(other.values.values())), np.array(list(best.values.values()))
    pooled = math.sqrt(
        ((len(a) - 1) * a.var(ddof=1) + (len(b) - 1) * b.var(ddof=1)) / (len(a) + len(b) - 2)
    )
    return float((a.mean() - b.mean()) / pooled) if pooled > 0 else math.nan


def t_interval(values: np.ndarray, confidence: float = 0.95) -> tuple[float, float]:
    """The Student-t confidence interval of the mean; NaNs for fewer than two values."""
    n = len(values)
    if n < 2:
        return math.nan, math.nan
    mean = float(np.mean(values))
    half = float(stats.t.ppf(0.5 + confidence / 2, n - 1) * np.std(values, ddof=1) / math.sqrt(n))
    return mean - half, mean + half


@dataclass
class Stat:
    """One metric in one cell over seeds."""

    cell: str
    metric: str
    n: int
    mean: float
    std: float
    ci_low: float
    ci_high: float
    values: dict[int, float]
    best: bool = False
    tied: bool | None = None
    test: str = ""
    p_value: float = math.nan
    p_adjusted: float = math.nan
    effect: float = math.nan
    missing: list[int] = field(default_factory=list)

    @property
    def half_width(self) -> float:
        """Half the interval's width (the BCa interval need not be symmetric)."""
        return (self.ci_high - self.ci_low) / 2

    @property
    def warnings(self) -> list[str]:
        """Why this entry deserves less trust: fewer than 3 finite seeds, no interval."""
        out = []
        if self.missing:
            out.append(f"NaN or missing at seed(s) {', '.join(map(str, self.missing))}")
        if self.n < 3:
            out.append(f"only {self.n} seed(s) finished with a finite value")
        if self.n >= 1 and not (math.isfinite(self.ci_low) and math.isfinite(self.ci_high)):
            out.append("no confidence interval could be computed")
        return out


def summarize(
    cell: str, metric: str, values: dict[int, float], interval: str = "t", seeds=()
) -> Stat:
    """The statistics of one cell's metric; ``seeds`` are the cell's finished runs' seeds,
    those without a finite value are listed in ``missing``."""
    finite = {s: v for s, v in values.items() if math.isfinite(v)}
    x = np.array([finite[s] for s in sorted(finite)], dtype=float)
    n = len(x)
    mean = float(x.mean()) if n else math.nan
    std = float(x.std(ddof=1)) if n >= 2 else math.nan
    low, high = bootstrap_interval(x) if interval == "bootstrap" else t_interval(x)
    missing = sorted(set(seeds).union(values) - set(finite))
    return Stat(
        cell, metric, n, mean, std, low, high, dict(sorted(finite.items())), missing=missing
    )


def compare(best: Stat, other: Stat) -> tuple[str, float]:
    """Two-sided test of ``other`` against ``best``: paired when the seeds match, else Welch."""
    if best.n < 2 or other.n < 2:
        return "", math.nan
    if set(best.values) == set(other.values):
        seeds = sorted(best.values)
        a = np.array([other.values[s] for s in seeds])
        b = np.array([best.values[s] for s in seeds])
        if np.all(a - b == 0):
            return PAIRED, 1.0
        p = float(stats.ttest_rel(a, b).pvalue)
        test = PAIRED
    else:
        a, b = np.array(list(other.values.values())), np.array(list(best.values.values()))
        p = float(stats.ttest_ind(a, b, equal_var=False).pvalue)
        test = WELCH
    if math.isnan(p):
        p = 1.0 if other.mean == best.mean else 0.0
    return test, p


@dataclass
class Results:
    """Per-cell statistics of every metric, with the best and tied cells marked."""

    study: str
    profile: str | None
    question: str
    cells: list[Cell]
    metrics: list[str]
    directions: dict[str, str | None]
    stats: dict[tuple[str, str], Stat]
    records: list[RunRecord]
    alpha: float = 0.05
    headline: list[str] = field(default_factory=list)
    correction: str = "holm"
    interval: str = "t"

    def stat(self, cell: Cell | str, metric: str) -> Stat | None:
        key = cell.key if isinstance(cell, Cell) else cell
        return self.stats.get((key, metric))

    def grids(self) -> dict[str, list[Cell]]:
        out: dict[str, list[Cell]] = {}
        for cell in self.cells:
            out.setdefault(cell.grid, []).append(cell)
        return out

    def failures(self) -> list[RunRecord]:
        return [r for r in self.records if r.status != "done"]

    def select(self, patterns: list[str] | None) -> list[str]:
        """Metric names matching names, prefixes (``probe/mlp``) or globs; all if empty."""
        if not patterns:
            return list(self.metrics)
        chosen = [
            m
            for m in self.metrics
            if any(
                m == p or m.startswith(p.rstrip("/") + "/") or fnmatch.fnmatchcase(m, p)
                for p in patterns
            )
        ]
        return chosen


def aggregate(
    records: list[RunRecord],
    cells: list[Cell],
    *,
    study: str = "",
    profile: str | None = None,
    question: str = "",
    alpha: float = 0.05,
    directions: dict[str, str] | None = None,
    headline: list[str] | None = None,
    correction: str = "holm",
    interval: str = "t",
) -> Results:
    """Statistics per (cell, metric) over the finished runs of ``records``; ``correction``
    (``holm`` or ``none``) and ``interval`` (``t`` or ``bootstrap``) as the module says."""
    if correction not in CORRECTIONS or interval not in INTERVALS:
        raise ValueError(
            f"correction must be one of {list(CORRECTIONS)} and interval one of "
            f"{list(INTERVALS)}, got {correction!r}, {interval!r}"
        )
    metrics: dict[str, None] = {}
    values: dict[tuple[str, str], dict[int, float]] = {}
    finished: dict[str, set[int]] = {}
    for record in records:
        if record.status != "done":
            continue
        for cell in record.cells:
            finished.setdefault(cell, set()).add(record.seed)
        for metric, value in record.metrics.items():
            metrics.setdefault(metric, None)
            for cell in record.cells:
                values.setdefault((cell, metric), {})[record.seed] = value
    names = list(metrics)
    dirs = {m: direction(m, directions) for m in names}
    table = {
        key: summarize(key[0], key[1], vals, interval, finished.get(key[0], ()))
        for key, vals in values.items()
    }
    by_grid: dict[str, list[Cell]] = {}
    for cell in cells:
        by_grid.setdefault(cell.grid, []).append(cell)
    for metric in names:
        if dirs[metric] is None:
            continue
        sign = 1.0 if dirs[metric] == "higher" else -1.0
        for grid_cells in by_grid.values():
            candidates = [
                table[(c.key, metric)]
                for c in grid_cells
                if (c.key, metric) in table and table[(c.key, metric)].n > 0
            ]
            if not candidates:
                continue
            best = max(candidates, key=lambda s: sign * s.mean)
            best.best, best.tied = True, True
            others = [s for s in candidates if s is not best]
            for other in others:
                other.test, other.p_value = compare(best, other)
                other.effect = effect_size(best, other) if other.test else math.nan
            tested = [s for s in others if s.test]
            adjusted = holm([s.p_value for s in tested]) if correction == "holm" else None
            for i, other in enumerate(tested):
                other.p_adjusted = adjusted[i] if adjusted is not None else other.p_value
                other.tied = other.p_adjusted >= alpha
    return Results(
        study,
        profile,
        question,
        list(cells),
        names,
        dirs,
        table,
        records,
        alpha,
        list(headline or []),
        correction,
        interval,
    )


def load_results(study_dir: str | Path) -> Results:
    """Aggregate a study directory written by ``reprlab run``."""
    index = read_index(Path(study_dir))
    records = load_records(Path(study_dir), index)
    cells = [Cell.from_key(c) for c in index.get("cells", [])]
    report = index.get("report", {})
    return aggregate(
        records,
        cells,
        study=index.get("study", ""),
        profile=index.get("profile"),
        question=index.get("question", ""),
        alpha=report.get("alpha", 0.05),
        directions=report.get("directions"),
        headline=report.get("metrics"),
        correction=report.get("correction", "holm"),
        interval=report.get("interval", "t"),
    )


# ---------------------------------------------------------------------------- formatting


def fmt(value: float, half_width: float = math.nan) -> str:
    """A value with as many decimals as its interval warrants (two significant digits)."""
    if not math.isfinite(value):
        return "–"
    has_width = math.isfinite(half_width) and half_width > 0
    scale = half_width if has_width else abs(value)
    if scale == 0:
        decimals = 2
    else:
        decimals = min(6, max(0, 1 - math.floor(math.log10(scale)) + (0 if has_width else 2)))
    text = f"{value:.{decimals}f}"
    if math.isfinite(half_width):
        text += f" ± {half_width:.{decimals}f}"
    return text


def arrow(dir_: str | None) -> str:
    return {"higher": " ↑", "lower": " ↓"}.get(dir_ or "", "")


def table_rows(
    results: Results, grid: str, metrics: list[str]
) -> tuple[list[str], list[list[Any]]]:
    """Header and rows (cells × metrics) of one grid; each metric entry is a ``Stat`` or None."""
    cells = results.grids().get(grid, [])
    axes = [a for a, _ in cells[0].labels] if cells else []
    header = [*axes, "n", *metrics]
    rows = []
    for cell in cells:
        stats_ = [results.stat(cell, m) for m in metrics]
        runs = [r for r in results.records if cell.key in r.cells]
        done = sum(1 for r in runs if r.status == "done")
        rows.append([*(v for _, v in cell.labels), f"{done}/{len(runs)}", *stats_])
    return header, rows


def stat_text(s: Stat) -> str:
    """A table entry: mean ± half-width, then ``(n=k; NaN: seeds …)`` where fewer seeds than
    finished have a finite value, and ``⚠`` where fewer than 3 seeds or no interval."""
    text = fmt(s.mean, s.half_width)
    if s.missing:
        text += f" (n={s.n}; NaN: seed {', '.join(map(str, s.missing))})"
    if s.warnings and (s.n < 3 or not math.isfinite(s.half_width)):
        text += " ⚠"
    return text


def legend(results: Results) -> str:
    interval = INTERVALS.get(results.interval, results.interval)
    correction = CORRECTIONS.get(results.correction, results.correction)
    return (
        f"mean ± half-width of the {interval} over seeds; n = finished runs/planned, and an "
        f"entry whose value is NaN at some finished seeds shows its own n and those seeds; "
        f"⚠: fewer than 3 seeds with a value, or no interval. **Bold**: best cell per metric "
        f"(↑ higher / ↓ lower is better); *italic*: not significantly different from the best "
        f"(two-sided {PAIRED} across seeds; {WELCH} where the seeds do not pair; "
        f"{correction}, α = {results.alpha}); effect sizes (Cohen's d_z) are in results.csv."
    )


def to_markdown(results: Results, metrics: list[str] | None = None, per_table: int = 6) -> str:
    """Markdown tables, one per grid and group of at most ``per_table`` metrics."""
    metrics = results.select(metrics) if metrics is not None else results.metrics
    out = []
    for grid in results.grids():
        grid_metrics = [
            m for m in metrics if any(results.stat(c, m) for c in results.grids()[grid])
        ]
        for start in range(0, len(grid_metrics), per_table):
            chunk = grid_metrics[start : start + per_table]
            header, rows = table_rows(results, grid, chunk)
            n_axes = len(header) - 1 - len(chunk)
            names = header[: n_axes + 1] + [m + arrow(results.directions.get(m)) for m in chunk]
            if len(results.grids()) > 1 or grid != "main":
                out.append(f"**grid: {grid}**\n")
            out.append("| " + " | ".join(names) + " |")
            out.append("|" + "|".join(["---"] * n_axes + ["--:"] * (len(names) - n_axes)) + "|")
            for row in rows:
                cells = [str(v) for v in row[: n_axes + 1]]
                for s in row[n_axes + 1 :]:
                    cells.append(_md_stat(s))
                out.append("| " + " | ".join(cells) + " |")
            out.append("")
    if not out:
        return "(no finished runs with metrics)\n"
    return "\n".join(out) + "\n" + legend(results) + "\n"


def _md_stat(s: Stat | None) -> str:
    if s is None or s.n == 0:
        return "–" + (f" (NaN: seed {', '.join(map(str, s.missing))}) ⚠" if s and s.missing else "")
    text = stat_text(s)
    if s.best:
        return f"**{text}**"
    if s.tied:
        return f"*{text}*"
    return text


def to_records(results: Results, metrics: list[str] | None = None) -> list[dict[str, Any]]:
    """Long-format rows: one per (cell, metric)."""
    metrics = results.select(metrics) if metrics is not None else results.metrics
    rows = []
    for cell in results.cells:
        for metric in metrics:
            s = results.stat(cell, metric)
            if s is None:
                continue
            rows.append(
                {
                    "grid": cell.grid,
                    "cell": cell.key,
                    **dict(cell.labels),
                    "metric": metric,
                    "direction": results.directions.get(metric) or "",
                    "n": s.n,
                    "mean": s.mean,
                    "std": s.std,
                    "ci_low": s.ci_low,
                    "ci_high": s.ci_high,
                    "best": s.best,
                    "tied_with_best": "" if s.tied is None else s.tied,
                    "test": s.test,
                    "p_value": s.p_value,
                    "p_adjusted": s.p_adjusted,
                    "correction": results.correction if s.test else "",
                    "effect_size": s.effect,
                    "interval": results.interval,
                    "nan_seeds": " ".join(map(str, s.missing)),
                    "warnings": "; ".join(s.warnings),
                }
            )
    return rows


def to_csv(results: Results, metrics: list[str] | None = None) -> str:
    rows = to_records(results, metrics)
    axes = list(dict.fromkeys(a for c in results.cells for a, _ in c.labels))
    fields = [
        "grid",
        "cell",
        *axes,
        "metric",
        "direction",
        "n",
        "mean",
        "std",
        "ci_low",
        "ci_high",
        "best",
        "tied_with_best",
        "test",
        "p_value",
        "p_adjusted",
        "correction",
        "effect_size",
        "interval",
        "nan_seeds",
        "warnings",
    ]
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=fields, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def to_json(results: Results, metrics: list[str] | None = None) -> str:
    def clean(v: Any) -> Any:
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {str(k): clean(x) for k, x in v.items()}
        if isinstance(v, list):
            return [clean(x) for x in v]
        return v

    payload = {
        "study": results.study,
        "profile": results.profile,
        "question": results.question,
        "alpha": results.alpha,
        "interval": INTERVALS[results.interval] + " over seeds",
        "correction": CORRECTIONS[results.correction],
        "effect_size": "Cohen's d_z of paired differences (Cohen's d where seeds differ)",
        "test": PAIRED,
        "fallback_test": WELCH,
        "cells": [{"key": c.key, "grid": c.grid, "labels": dict(c.labels)} for c in results.cells],
        "metrics": [
            {"name": m, "direction": results.directions.get(m)}
            for m in (results.select(metrics) if metrics is not None else results.metrics)
        ],
        "stats": [
            {
                **row,
                "values": {
                    str(k): v for k, v in results.stats[(row["cell"], row["metric"])].values.items()
                },
            }
            for row in to_records(results, metrics)
        ],
        "runs": [
            {
                **{k: v for k, v in asdict(r).items() if k not in ("metrics", "path", "info")},
                "path": str(r.path),
            }
            for r in results.records
        ],
    }
    return json.dumps(clean(payload), indent=2) + "\n"
