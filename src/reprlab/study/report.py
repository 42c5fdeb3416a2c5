"""The study report: one self-contained ``report.html`` (CSS inline, images as base64 PNG,
no scripts, no external resources) and ``report.md`` with images in ``report_files/``.

Sections: question and settings; headline tables and bar charts with 95 % intervals; every
metric; training curves; each cell's figures from its first finished seed (reconstruction
and sample grids, 2-D scatter, MDS sphere, ...); failures.
"""

from __future__ import annotations

import base64
import html
import warnings
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from reprlab import __version__, atomic
from reprlab.rundir import RunDir
from reprlab.study import figures, reference, tuning_report
from reprlab.study.layout import read_index
from reprlab.study.results import (
    Results,
    Stat,
    arrow,
    fmt,
    legend,
    load_results,
    stat_text,
    table_rows,
)

FILES = "report_files"
CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222;line-height:1.45}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
table{border-collapse:collapse;margin:.6em 0 1.2em;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right}
th{background:#f2f4f7}td.l,th.l{text-align:left}
td.best{font-weight:bold;background:#dfeaf7}td.tied{font-style:italic;background:#eef3fa}
.fig{display:inline-block;margin:.4em;vertical-align:top;text-align:center;font-size:.85em}
.fig img{max-width:100%;border:1px solid #eee}pre{background:#f7f7f7;padding:.6em;overflow:auto}
.note{color:#555;font-size:.9em}.failed{color:#a11}
"""


@dataclass
class Figure:
    title: str
    png: bytes | None = None
    path: Path | None = None

    def data(self) -> bytes:
        return self.png if self.png is not None else Path(self.path).read_bytes()


@dataclass
class Gallery:
    title: str
    figures: list[Figure] = field(default_factory=list)


def _settings(index: dict[str, Any]) -> dict[str, Any]:
    resolved = index.get("resolved", {})
    return {
        "study": index.get("study"),
        "profile": index.get("profile"),
        "seeds": resolved.get("seeds"),
        "base config": resolved.get("base"),
        "grids": resolved.get("grids"),
        "evaluate": resolved.get("evaluate"),
    }


def _run_figures(results: Results) -> list[Gallery]:
    """One gallery per figure file name, one image per cell (its first finished seed)."""
    galleries: dict[str, Gallery] = {}
    for cell in results.cells:
        runs = sorted(
            (r for r in results.records if cell.key in r.cells and r.status == "done"),
            key=lambda r: r.seed,
        )
        if not runs:
            continue
        run = runs[0]
        for png in sorted(RunDir(run.path).figures.glob("*.png")):
            gallery = galleries.setdefault(png.stem, Gallery(png.stem.replace("_", " ")))
            gallery.figures.append(Figure(f"{cell.name} (seed {run.seed})", path=png))
    return list(galleries.values())


def build(study_dir: Path) -> tuple[Results, dict[str, Any], dict[str, list[Figure]]]:
    """Results, index and the study-level figures, keyed by section."""
    results = load_results(study_dir)
    index = read_index(study_dir)
    headline = results.select(results.headline) if results.headline else results.metrics[:6]
    figs: dict[str, list[Figure]] = {"bars": [], "curves": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for grid in results.grids():
            for metric in headline:
                png = figures.bar_chart(results, grid, metric)
                if png:
                    figs["bars"].append(Figure(f"{grid}: {metric}", png=png))
            png = figures.training_curves(results, grid)
            if png:
                figs["curves"].append(Figure(f"{grid}: training curves", png=png))
    return results, index, figs


# --------------------------------------------------------------------------------- HTML


def _e(text: Any) -> str:
    return html.escape(str(text), quote=True)


def _img(fig: Figure) -> str:
    data = base64.b64encode(fig.data()).decode("ascii")
    return (
        f'<div class="fig"><img alt="{_e(fig.title)}" src="data:image/png;base64,{data}">'
        f"<br>{_e(fig.title)}</div>"
    )


def _legend_html(results: Results) -> str:
    text = _e(legend(results))
    return text.replace("**Bold**", "<b>Bold</b>").replace("*italic*", "<i>italic</i>")


def _html_stat(s: Stat | None) -> str:
    if s is None or s.n == 0:
        return "<td>–</td>"
    cls = ' class="best"' if s.best else ' class="tied"' if s.tied else ""
    title = (
        f' title="p = {s.p_value:.3g}, corrected {s.p_adjusted:.3g}, d = {s.effect:.2g} '
        f'({_e(s.test)})"'
        if s.test
        else ""
    )
    return f"<td{cls}{title}>{_e(stat_text(s))}</td>"


def _html_tables(results: Results, metrics: list[str], per_table: int = 6) -> str:
    out = []
    for grid, cells in results.grids().items():
        grid_metrics = [m for m in metrics if any(results.stat(c, m) for c in cells)]
        for start in range(0, len(grid_metrics), per_table):
            chunk = grid_metrics[start : start + per_table]
            header, rows = table_rows(results, grid, chunk)
            n_axes = len(header) - 1 - len(chunk)
            caption = f"<caption>grid: {_e(grid)}</caption>" if len(results.grids()) > 1 else ""
            head = "".join(f'<th class="l">{_e(h)}</th>' for h in header[:n_axes]) + "<th>n</th>"
            head += "".join(f"<th>{_e(m + arrow(results.directions.get(m)))}</th>" for m in chunk)
            body = []
            for row in rows:
                tds = "".join(f'<td class="l">{_e(v)}</td>' for v in row[:n_axes])
                tds += f"<td>{_e(row[n_axes])}</td>"
                tds += "".join(_html_stat(s) for s in row[n_axes + 1 :])
                body.append(f"<tr>{tds}</tr>")
            out.append(
                f"<table>{caption}<thead><tr>{head}</tr></thead>"
                f"<tbody>{''.join(body)}</tbody></table>"
            )
    return "\n".join(out) or "<p>(no finished runs with metrics)</p>"


def _html_failures(results: Results) -> str:
    failures = results.failures()
    if not failures:
        return "<p>None: every run finished.</p>"
    rows = "".join(
        f'<tr><td class="l">{_e(r.run_id)}</td><td class="l">{_e("; ".join(r.cells))}</td>'
        f'<td>{r.seed}</td><td class="l failed">{_e(r.status)}</td>'
        f'<td class="l">{_e(r.reason)}</td></tr>'
        for r in failures
    )
    return (
        '<table><thead><tr><th class="l">run</th><th class="l">cells</th><th>seed</th>'
        '<th class="l">status</th><th class="l">reason</th></tr></thead>'
        f"<tbody>{rows}</tbody></table>"
    )


def _runs_rows(results: Results, metrics: list[str]) -> tuple[list[str], list[list[str]]]:
    """Every run with its status and its own values of ``metrics`` (at most six)."""
    metrics = metrics[:6]
    header = ["run", "cells", "seed", "status", *metrics]
    rows = [
        [
            r.run_id,
            "; ".join(r.cells),
            str(r.seed),
            r.status,
            *(fmt(r.metrics[m]) if m in r.metrics else "–" for m in metrics),
        ]
        for r in sorted(results.records, key=lambda r: (r.cells, r.seed))
    ]
    return header, rows


def _html_runs(results: Results, metrics: list[str]) -> str:
    header, rows = _runs_rows(results, metrics)
    head = "".join(f'<th class="{"l" if i < 4 else ""}">{_e(h)}</th>' for i, h in enumerate(header))
    body = "".join(
        "<tr>"
        + "".join(f'<td class="{"l" if i < 4 else ""}">{_e(v)}</td>' for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    )
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def render_html(
    results: Results,
    index: dict[str, Any],
    figs: dict[str, list[Figure]],
    galleries: list[Gallery],
    extra: str = "",
) -> str:
    headline = results.select(results.headline) if results.headline else results.metrics
    done = sum(r.status == "done" for r in results.records)
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>reprlab study: {_e(results.study)}</title><style>{CSS}</style></head><body>",
        f"<h1>Study: {_e(results.study)}</h1>",
        f"<p><strong>Question.</strong> {_e(results.question)}</p>",
        f"<p>{_e(index.get('description', ''))}</p>" if index.get("description") else "",
        f'<p class="note">Profile <code>{_e(results.profile)}</code>; {done} of '
        f"{len(results.records)} runs finished; {len(results.cells)} cells; "
        f"generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by reprlab {__version__}. "
        f"Source: {_e(index.get('source', ''))}</p>",
        "<h2>Results</h2>",
        f'<p class="note">{_legend_html(results)}</p>',
        _html_tables(results, headline),
        "".join(_img(f) for f in figs["bars"]),
        reference.to_html(reference.reference_views(index, results)),
        extra,
    ]
    others = [m for m in results.metrics if m not in headline]
    if others:
        parts += ["<h2>All other metrics</h2>", _html_tables(results, others)]
    if figs["curves"]:
        parts += ["<h2>Training curves</h2>", "".join(_img(f) for f in figs["curves"])]
    for gallery in galleries:
        parts += [
            f"<h2>{_e(gallery.title.capitalize())}</h2>",
            "".join(_img(f) for f in gallery.figures),
        ]
    parts += [
        "<h2>Failures</h2>",
        _html_failures(results),
        "<h2>Runs</h2>",
        _html_runs(results, headline),
        "<h2>Settings</h2>",
        f"<pre>{_e(yaml.safe_dump(_settings(index), sort_keys=False))}</pre>",
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p)


# ----------------------------------------------------------------------------- Markdown


def render_markdown(
    results: Results,
    index: dict[str, Any],
    figs: dict[str, list[Figure]],
    galleries: list[Gallery],
    study_dir: Path,
    extra: list[str] = (),
) -> tuple[str, dict[str, bytes]]:
    """The Markdown report and the images it links to (``report_files/NAME.png``)."""
    from reprlab.study.results import to_markdown

    files: dict[str, bytes] = {}

    def link(fig: Figure, name: str) -> str:
        if fig.path is not None:
            rel = Path(fig.path).resolve().relative_to(Path(study_dir).resolve())
            return f"![{fig.title}]({rel.as_posix()})"
        files[name] = fig.data()
        return f"![{fig.title}]({FILES}/{name})"

    headline = results.select(results.headline) if results.headline else results.metrics
    done = sum(r.status == "done" for r in results.records)
    lines = [f"# Study: {results.study}", "", f"**Question.** {results.question}", ""]
    if index.get("description"):
        lines += [index["description"], ""]
    lines += [
        f"Profile `{results.profile}`; {done} of {len(results.records)} runs finished; "
        f"{len(results.cells)} cells. Source: {index.get('source', '')}",
        "",
        "## Results",
        "",
        to_markdown(results, headline),
    ]
    lines += [link(f, f"bar_{i}.png") for i, f in enumerate(figs["bars"])] + [""]
    lines += [reference.to_markdown(reference.reference_views(index, results))]
    lines += [*extra]
    others = [m for m in results.metrics if m not in headline]
    if others:
        lines += ["## All other metrics", "", to_markdown(results, others)]
    if figs["curves"]:
        lines += ["## Training curves", ""]
        lines += [link(f, f"curves_{i}.png") for i, f in enumerate(figs["curves"])] + [""]
    for gallery in galleries:
        lines += [f"## {gallery.title.capitalize()}", ""]
        lines += [link(f, "") for f in gallery.figures] + [""]
    lines += ["## Failures", ""]
    failures = results.failures()
    if failures:
        lines += ["| run | cells | seed | status | reason |", "|---|---|--:|---|---|"]
        lines += [
            f"| {r.run_id} | {'; '.join(r.cells)} | {r.seed} | {r.status} | "
            f"{r.reason.replace('|', '/')} |"
            for r in failures
        ]
    else:
        lines.append("None: every run finished.")
    header, rows = _runs_rows(results, headline)
    lines += [
        "",
        "## Runs",
        "",
        "| " + " | ".join(header) + " |",
        "|" + "|".join(["---"] * len(header)) + "|",
    ]
    lines += ["| " + " | ".join(v.replace("|", "/") for v in row) + " |" for row in rows]
    lines += [
        "",
        "## Settings",
        "",
        "```yaml",
        yaml.safe_dump(_settings(index), sort_keys=False).rstrip(),
        "```",
        "",
    ]
    return "\n".join(lines), files


def write_report(study_dir: str | Path) -> tuple[Path, Path]:
    """Write ``report.html`` and ``report.md`` (and ``report_files/``) into ``study_dir``."""
    study_dir = Path(study_dir)
    results, index, figs = build(study_dir)
    galleries = _run_figures(results)
    chosen = tuning_report.sections(study_dir, results, index)
    html_text = render_html(
        results, index, figs, galleries, tuning_report.to_html(chosen, study_dir)
    )
    md_text, files = render_markdown(
        results, index, figs, galleries, study_dir, tuning_report.to_markdown(chosen)
    )
    for name, data in files.items():
        atomic.write_bytes(study_dir / FILES / name, data)
    atomic.write_text(study_dir / "report.html", html_text)
    atomic.write_text(study_dir / "report.md", md_text)
    return study_dir / "report.html", study_dir / "report.md"


def write_results_files(study_dir: str | Path) -> Results:
    """``results.json``, ``results.csv`` and ``results.md`` beside the report."""
    from reprlab.study.results import to_csv, to_json, to_markdown

    study_dir = Path(study_dir)
    results = load_results(study_dir)
    atomic.write_text(study_dir / "results.json", to_json(results))
    atomic.write_text(study_dir / "results.csv", to_csv(results))
    atomic.write_text(study_dir / "results.md", to_markdown(results))
    return results
