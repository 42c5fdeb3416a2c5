"""The study report: one self-contained ``report.html`` (CSS, a small table-sorting script and
images as base64 PNG inline; nothing fetched) and ``report.md`` with images in
``report_files/``.

Order, question first: the question and its answer; the headline table (mean ± 95 %
interval, best and tied cells, p-values) and its charts; per-label and per-k results as
heatmaps; the other metrics (collapsed); the data's constants (values the same in every run,
such as the label agreement of pixel-space neighbours); training curves per cell; each run's
figures as a grid of cells and seeds; failures; a glossary of the metrics; the settings that
were set; every run (collapsed).
"""

from __future__ import annotations

import base64
import html
import math
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import yaml

from reprlab import __version__, atomic
from reprlab.rundir import RunDir
from reprlab.study import figures, glossary, reference, tuning_report
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
#: per-run figures drawn for every seed (a grid of cells × seeds); others for the first seed
EVERY_SEED = {"scatter", "sphere", "mds", "tsne", "umap", "projection"}
#: per-run figures the report draws itself, across cells (not repeated per run)
REPLACED = {"curves"}
#: Sections placed right after the headline table, each ``f(results, index) -> (html,
#: markdown)``: the seed's published numbers beside ours, and other comparisons with the
#: headline. An empty pair renders nothing.
AFTER_HEADLINE: list[Callable[[Results, dict[str, Any]], tuple[str, str]]] = []


def _reference_section(results: Results, index: dict[str, Any]) -> tuple[str, str]:
    """The seed's published numbers beside ours (the study's ``reference:`` block)."""
    views = reference.reference_views(index, results)
    return reference.to_html(views), reference.to_markdown(views)


AFTER_HEADLINE.append(_reference_section)

CSS = """
body{font-family:system-ui,-apple-system,Segoe UI,Helvetica,Arial,sans-serif;margin:2em auto;
max-width:1100px;padding:0 1em;color:#222;line-height:1.45;overflow-wrap:anywhere}
h1{font-size:1.6em}h2{border-bottom:1px solid #ddd;padding-bottom:.2em;margin-top:1.8em}
.scroll{overflow-x:auto;max-width:100%;margin:.6em 0 1.2em}
table{border-collapse:collapse;font-size:.9em}
th,td{border:1px solid #ccc;padding:.25em .6em;text-align:right;overflow-wrap:normal}
th{background:#f2f4f7;cursor:pointer;user-select:none;white-space:nowrap}
th[data-dir=asc]::after{content:" ▲"}th[data-dir=desc]::after{content:" ▼"}
td.l,th.l{text-align:left}td.best{font-weight:bold;background:#dfeaf7}
td.tied{font-style:italic;background:#eef3fa}
.fig{display:inline-block;margin:.4em;vertical-align:top;text-align:center;font-size:.85em;
max-width:100%}
img{max-width:100%;height:auto;border:1px solid #eee}
.grid{display:grid;gap:.3em;font-size:.8em;text-align:center;align-items:end}
.grid img{width:100%}
pre{background:#f7f7f7;padding:.6em;overflow:auto}
details{margin:.6em 0}summary{cursor:pointer;font-weight:600}
.note{color:#555;font-size:.9em}.failed{color:#a11}.answer li{margin:.2em 0}
"""
SORT_JS = """
document.querySelectorAll('table.sortable th').forEach(function(th){
 th.addEventListener('click',function(){
  var t=th.closest('table'),b=t.tBodies[0],
      i=Array.prototype.indexOf.call(th.parentNode.children,th),
      d=th.dataset.dir==='asc'?'desc':'asc';
  t.querySelectorAll('th').forEach(function(h){delete h.dataset.dir;});
  th.dataset.dir=d;
  function v(r){var c=r.cells[i];if(!c)return '';
   var x=c.dataset.v!==undefined?c.dataset.v:c.textContent,n=parseFloat(x);
   return isNaN(n)?x.toLowerCase():n;}
  Array.from(b.rows).sort(function(p,q){var x=v(p),y=v(q),
   r=(typeof x==='number'&&typeof y==='number')?x-y:String(x).localeCompare(String(y));
   return d==='asc'?r:-r;}).forEach(function(r){b.appendChild(r);});
 });
});
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
    """One per-run figure across runs: ``rows`` of ``(label, [Figure or None per column])``."""

    title: str
    figures: list[Figure] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)
    rows: list[tuple[str, list[Figure | None]]] = field(default_factory=list)


@dataclass
class Sections:
    """Which metrics go where."""

    headline: list[str]
    constants: list[str]
    families: dict[str, dict[str, list[str]]]
    secondary: list[str]


def _pruned(value: Any) -> Any:
    """``value`` without ``None``, empty mappings and empty lists (the values nobody set)."""
    if isinstance(value, dict):
        out = {k: _pruned(v) for k, v in value.items()}
        return {k: v for k, v in out.items() if v not in (None, {}, [])}
    if isinstance(value, list):
        return [_pruned(v) for v in value]
    return value


def _settings(index: dict[str, Any]) -> dict[str, Any]:
    """What the study set: profile, seeds, base config, grids and evaluation, unset fields
    (``None``, empty) left out."""
    resolved = index.get("resolved", {})
    return _pruned(
        {
            "study": index.get("study"),
            "profile": index.get("profile"),
            "seeds": resolved.get("seeds"),
            "base config": resolved.get("base"),
            "grids": resolved.get("grids"),
            "evaluate": resolved.get("evaluate"),
        }
    )


def constants(results: Results) -> list[str]:
    """Metrics with one value in every finished run of every cell (at least two runs): they
    describe the data or the evaluation, not the models."""
    out = []
    for metric in results.metrics:
        values = [r.metrics[metric] for r in results.records if metric in r.metrics]
        finite = [v for v in values if math.isfinite(v)]
        if len(finite) >= 2 and len(finite) == len(values):
            if max(finite) - min(finite) <= 1e-12 * max(1.0, abs(finite[0])):
                out.append(metric)
    return out


def sections(results: Results) -> Sections:
    headline = results.select(results.headline) if results.headline else results.metrics[:6]
    fixed = constants(results)
    varying = [m for m in results.metrics if m not in fixed]
    headline = [m for m in headline if m not in fixed] or headline
    families = figures.metric_families(varying)
    grouped = {m for fam in families.values() for names in fam.values() for m in names}
    secondary = [m for m in varying if m not in headline and m not in grouped]
    return Sections(headline, fixed, families, secondary)


def _run_figures(results: Results) -> list[Gallery]:
    """One gallery per per-run figure: columns are cells, rows are seeds (every seed for
    projections such as ``scatter``, the first finished seed for the others)."""
    names: dict[str, None] = {}
    done = [r for r in results.records if r.status == "done"]
    for record in done:
        for png in sorted(RunDir(record.path).figures.glob("*.png")):
            if png.stem not in REPLACED:
                names.setdefault(png.stem, None)
    galleries = []
    cells = results.cells
    seeds = sorted({r.seed for r in done})
    for name in names:
        every = name in EVERY_SEED or any(name.startswith(p) for p in EVERY_SEED)
        rows: list[tuple[str, list[Figure | None]]] = []
        for seed in seeds if every else [None]:
            row: list[Figure | None] = []
            for cell in cells:
                runs = sorted(
                    (r for r in done if cell.key in r.cells and seed in (None, r.seed)),
                    key=lambda r: r.seed,
                )
                path = RunDir(runs[0].path).figure(name) if runs else None
                ok = path is not None and path.is_file()
                row.append(Figure(f"{cell.name}, seed {runs[0].seed}", path=path) if ok else None)
            if any(row):
                rows.append((f"seed {seed}" if seed is not None else "first seed", row))
        gallery = Gallery(name.replace("_", " "), columns=[c.name for c in cells], rows=rows)
        gallery.figures = [f for _, row in rows for f in row if f is not None]
        if gallery.figures:
            galleries.append(gallery)
    return galleries


def build(study_dir: Path) -> tuple[Results, dict[str, Any], dict[str, list[Figure]]]:
    """Results, index and the study-level figures, keyed by section (``bars``, ``heatmaps``,
    ``curves``)."""
    results = load_results(study_dir)
    index = read_index(study_dir)
    parts = sections(results)
    figs: dict[str, list[Figure]] = {"bars": [], "heatmaps": [], "curves": []}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        for grid in results.grids():
            prefix = f"{grid}: " if len(results.grids()) > 1 else ""
            for metric in parts.headline:
                png = figures.bar_chart(results, grid, metric)
                if png:
                    figs["bars"].append(Figure(f"{prefix}{metric}", png=png))
            for kind, family in parts.families.items():
                key = "label" if kind == "per label" else "k"
                png = figures.heatmaps(results, grid, family, key)
                if png:
                    figs["heatmaps"].append(Figure(f"{prefix}{kind}", png=png))
            png = figures.training_curves(results, grid)
            if png:
                figs["curves"].append(Figure(f"{prefix}training curves", png=png))
    return results, index, figs


def answer(results: Results, metrics: list[str]) -> list[tuple[str, str, str, str]]:
    """Per headline metric and grid: ``(metric, grid, best cell text, how the others
    compare)``, from the tests the results table marks."""
    out = []
    for grid, cells in results.grids().items():
        for metric in metrics:
            stats_ = [(c, results.stat(c, metric)) for c in cells]
            best = [(c, s) for c, s in stats_ if s is not None and s.best]
            if not best:
                continue
            cell, s = best[0]
            others = [(c.name, t) for c, t in stats_ if t is not None and t.n and not t.best]
            groups = {
                "not significantly different": [n for n, t in others if t.tied is True],
                "significantly worse": [n for n, t in others if t.tied is False],
                "too few seeds to test": [n for n, t in others if t.tied is None],
            }
            rest = "; ".join(f"{k}: {', '.join(v)}" for k, v in groups.items() if v)
            out.append((metric, grid, f"{cell.name} ({fmt(s.mean, s.half_width)})", rest))
    return out


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
        return '<td data-v="">–</td>'
    cls = ' class="best"' if s.best else ' class="tied"' if s.tied else ""
    title = (
        f' title="p = {s.p_value:.3g}, corrected {s.p_adjusted:.3g}, d = {s.effect:.2g} '
        f'({_e(s.test)})"'
        if s.test
        else ""
    )
    p = f"<sub>p={s.p_adjusted:.2g}</sub>" if s.test and math.isfinite(s.p_adjusted) else ""
    return f'<td{cls}{title} data-v="{s.mean!r}">{_e(stat_text(s))}{p}</td>'


def _table(head: str, body: list[str], caption: str = "", id_: str = "") -> str:
    ident = f' id="{id_}"' if id_ else ""
    return (
        f'<div class="scroll"><table class="sortable"{ident}>{caption}<thead><tr>{head}</tr>'
        f"</thead><tbody>{''.join(body)}</tbody></table></div>"
    )


def _table_chunks(results: Results, metrics: list[str], per_table: int):
    """Per grid, the metrics with a value in ``per_table``-wide chunks:
    ``(grid, chunk, header, rows, n_axes)`` as `table_rows` lays them out."""
    for grid, cells in results.grids().items():
        grid_metrics = [m for m in metrics if any(results.stat(c, m) for c in cells)]
        for start in range(0, len(grid_metrics), per_table):
            chunk = grid_metrics[start : start + per_table]
            header, rows = table_rows(results, grid, chunk)
            yield grid, chunk, header, rows, len(header) - 1 - len(chunk)


def _html_tables(results: Results, metrics: list[str], per_table: int = 8, id_: str = "") -> str:
    out = []
    for grid, chunk, header, rows, n_axes in _table_chunks(results, metrics, per_table):
        caption = f"<caption>grid: {_e(grid)}</caption>" if len(results.grids()) > 1 else ""
        head = "".join(f'<th class="l">{_e(h)}</th>' for h in header[:n_axes]) + "<th>n</th>"
        head += "".join(f"<th>{_e(m + arrow(results.directions.get(m)))}</th>" for m in chunk)
        body = []
        for row in rows:
            tds = "".join(f'<td class="l">{_e(v)}</td>' for v in row[:n_axes])
            tds += f"<td>{_e(row[n_axes])}</td>"
            tds += "".join(_html_stat(s) for s in row[n_axes + 1 :])
            body.append(f"<tr>{tds}</tr>")
        out.append(_table(head, body, caption, id_ if not out else ""))
    return "\n".join(out) or "<p>(no finished runs with metrics)</p>"


def _html_answer(results: Results, metrics: list[str]) -> str:
    items = []
    for metric, grid, best, rest in answer(results, metrics):
        where = f" (grid {_e(grid)})" if len(results.grids()) > 1 else ""
        others = f"; {_e(rest)}" if rest else ""
        items.append(
            f"<li><b>{_e(metric + arrow(results.directions.get(metric)))}</b>{where}: "
            f"best {_e(best)}{others}.</li>"
        )
    if not items:
        return ""
    return f'<p><strong>Answer.</strong></p><ul class="answer">{"".join(items)}</ul>'


def _html_constants(results: Results, names: list[str]) -> str:
    rows = []
    for m in names:
        value = next(r.metrics[m] for r in results.records if m in r.metrics)
        rows.append(
            f'<tr><td class="l">{_e(m)}</td><td data-v="{value!r}">{_e(fmt(value))}</td></tr>'
        )
    head = '<th class="l">metric</th><th>value in every run</th>'
    return _table(head, rows)


def _html_failures(results: Results) -> str:
    failures = results.failures()
    if not failures:
        return "<p>None: every run finished.</p>"
    rows = [
        f'<tr><td class="l">{_e(r.run_id)}</td><td class="l">{_e("; ".join(r.cells))}</td>'
        f'<td>{r.seed}</td><td class="l failed">{_e(r.status)}</td>'
        f'<td class="l">{_e(r.reason)}</td></tr>'
        for r in failures
    ]
    head = (
        '<th class="l">run</th><th class="l">cells</th><th>seed</th>'
        '<th class="l">status</th><th class="l">reason</th>'
    )
    return _table(head, rows)


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
    body = [
        "<tr>"
        + "".join(f'<td class="{"l" if i < 4 else ""}">{_e(v)}</td>' for i, v in enumerate(row))
        + "</tr>"
        for row in rows
    ]
    return _table(head, body)


def glossary_rows(results: Results, metrics: list[str]) -> list[tuple[str, str, str, str, str]]:
    """``(metric, definition, direction, range, source)`` for each glossary entry the shown
    metrics match, and for each shown metric without one."""
    rows: dict[str, tuple[str, str, str, str, str]] = {}
    for m in metrics:
        e = glossary.entry(m)
        direction = results.directions.get(m) or (e.direction if e else None)
        better = {"higher": "higher is better ↑", "lower": "lower is better ↓"}.get(
            direction or "", "—"
        )
        if e is None:
            rows[m] = (m, "(no entry)", better, "—", "—")
        elif e.pattern not in rows:
            rows[e.pattern] = (e.title, e.definition, better, e.range_text, e.source)
    return list(rows.values())


def _html_glossary(results: Results, metrics: list[str]) -> str:
    body = [
        "<tr>" + "".join(f'<td class="l">{_e(v)}</td>' for v in row) + "</tr>"
        for row in glossary_rows(results, metrics)
    ]
    head = "".join(
        f'<th class="l">{h}</th>' for h in ("metric", "definition", "better", "range", "source")
    )
    return _table(head, body)


def _html_gallery(gallery: Gallery) -> str:
    columns = len(gallery.columns)
    style = f"grid-template-columns:5em repeat({columns},minmax(0,1fr))"
    cells = ["<div></div>"] + [f"<div><b>{_e(c)}</b></div>" for c in gallery.columns]
    for label, row in gallery.rows:
        cells.append(f"<div>{_e(label)}</div>")
        for fig in row:
            if fig is None:
                cells.append("<div>–</div>")
            else:
                data = base64.b64encode(fig.data()).decode("ascii")
                cells.append(
                    f'<div><img alt="{_e(fig.title)}" src="data:image/png;base64,{data}"></div>'
                )
    return f'<div class="grid" style="{style}">{"".join(cells)}</div>'


def _shown(parts: Sections) -> list[str]:
    fam = [names[0] for kind in parts.families.values() for names in kind.values()]
    return list(dict.fromkeys([*parts.headline, *fam, *parts.secondary, *parts.constants]))


def render_html(
    results: Results,
    index: dict[str, Any],
    figs: dict[str, list[Figure]],
    galleries: list[Gallery],
    extra: str = "",
) -> str:
    """The HTML report; ``extra`` (the splits, statistics and tuning sections) follows the
    sections placed after the headline."""
    parts = sections(results)
    done = sum(r.status == "done" for r in results.records)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>reprlab study: {_e(results.study)}</title><style>{CSS}</style></head><body>",
        f"<h1>Study: {_e(results.study)}</h1>",
        f"<p><strong>Question.</strong> {_e(results.question)}</p>",
        _html_answer(results, parts.headline),
        _html_tables(results, parts.headline, id_="headline"),
        f'<p class="note">{_legend_html(results)} Sort a table by clicking its header.</p>',
        f"<p>{_e(index.get('description', ''))}</p>" if index.get("description") else "",
        f'<p class="note">Profile <code>{_e(results.profile)}</code>; {done} of '
        f"{len(results.records)} runs finished; {len(results.cells)} cells; "
        f"generated {datetime.now(UTC):%Y-%m-%d %H:%M} UTC by reprlab {__version__}. "
        f"Source: {_e(index.get('source', ''))}</p>",
    ]
    for section in AFTER_HEADLINE:
        out.append(section(results, index)[0])
    out.append(extra)
    out.append("".join(_img(f) for f in figs["bars"]))
    if figs.get("heatmaps"):
        out += [
            "<h2>Per label and per k</h2>",
            '<p class="note">Mean over seeds of each cell (rows); the colour scale is per '
            "panel. Every value with its interval is in results.csv.</p>",
            "".join(_img(f) for f in figs["heatmaps"]),
        ]
    if parts.secondary:
        out += [
            "<h2>Other metrics</h2>",
            f"<details><summary>{len(parts.secondary)} further metrics</summary>",
            _html_tables(results, parts.secondary),
            "</details>",
        ]
    if parts.constants:
        out += [
            "<h2>Data</h2>",
            '<p class="note">The same value in every run of every cell: a property of the data '
            "and the evaluation, not of the models.</p>",
            _html_constants(results, parts.constants),
        ]
    if figs["curves"]:
        out += [
            "<h2>Training curves</h2>",
            '<p class="note">Columns are cells, rows the logged quantities (each on its own '
            "axis); thin lines are seeds, the thick line their mean; alpha and scale of an "
            "adaptive loss are means over dimensions with their min–max band.</p>",
            "".join(_img(f) for f in figs["curves"]),
        ]
    for gallery in galleries:
        out += [f"<h2>{_e(gallery.title.capitalize())}</h2>", _html_gallery(gallery)]
    out += [
        "<h2>Failures</h2>",
        _html_failures(results),
        "<h2>Glossary</h2>",
        _html_glossary(results, _shown(parts)),
        "<h2>Settings</h2>",
        f"<pre>{_e(yaml.safe_dump(_settings(index), sort_keys=False, allow_unicode=True))}</pre>",
        "<h2>Runs</h2>",
        f"<details><summary>{len(results.records)} runs</summary>",
        _html_runs(results, parts.headline),
        "</details>",
        f"<script>{SORT_JS}</script>",
        "</body></html>",
    ]
    return "\n".join(p for p in out if p)


# ----------------------------------------------------------------------------- Markdown


def _m(text: Any) -> str:
    """A user string in Markdown: no raw HTML (``<``, ``>``, ``&`` escaped), no table breaks."""
    escaped = html.escape(" ".join(str(text).split()), quote=False)
    return escaped.replace("|", "\\|").replace("[", "\\[").replace("]", "\\]")


def _md_stat(s: Stat | None) -> str:
    if s is None or s.n == 0:
        return "–"
    text = _m(stat_text(s))
    return f"**{text}**" if s.best else f"*{text}*" if s.tied else text


def _md_tables(results: Results, metrics: list[str], per_table: int = 6) -> list[str]:
    out = []
    for grid, chunk, header, rows, n_axes in _table_chunks(results, metrics, per_table):
        names = header[: n_axes + 1] + [m + arrow(results.directions.get(m)) for m in chunk]
        if len(results.grids()) > 1:
            out += [f"**grid: {_m(grid)}**", ""]
        out.append("| " + " | ".join(_m(n) for n in names) + " |")
        out.append("|" + "|".join(["---"] * n_axes + ["--:"] * (len(names) - n_axes)) + "|")
        for row in rows:
            values = [_m(v) for v in row[: n_axes + 1]] + [_md_stat(s) for s in row[n_axes + 1 :]]
            out.append("| " + " | ".join(values) + " |")
        out.append("")
    return out or ["(no finished runs with metrics)", ""]


def _md_table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(_m(h) for h in header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(_m(v) for v in row) + " |" for row in rows]
    return [*lines, ""]


def render_markdown(
    results: Results,
    index: dict[str, Any],
    figs: dict[str, list[Figure]],
    galleries: list[Gallery],
    study_dir: Path,
    extra: list[str] = (),
) -> tuple[str, dict[str, bytes]]:
    """The Markdown report and the images it links to (``report_files/NAME.png``). Every
    user string (question, names, labels, reasons) is escaped: no raw HTML passes through."""
    files: dict[str, bytes] = {}

    def link(fig: Figure, name: str) -> str:
        if fig.path is not None:
            rel = Path(fig.path).resolve().relative_to(Path(study_dir).resolve())
            return f"![{_m(fig.title)}]({rel.as_posix()})"
        files[name] = fig.data()
        return f"![{_m(fig.title)}]({FILES}/{name})"

    parts = sections(results)
    done = sum(r.status == "done" for r in results.records)
    lines = [f"# Study: {_m(results.study)}", "", f"**Question.** {_m(results.question)}", ""]
    items = answer(results, parts.headline)
    if items:
        lines += ["**Answer.**", ""]
        for metric, grid, best, rest in items:
            where = f" (grid {_m(grid)})" if len(results.grids()) > 1 else ""
            others = f"; {_m(rest)}" if rest else ""
            lines.append(f"- **{_m(metric)}**{where}: best {_m(best)}{others}.")
        lines.append("")
    lines += _md_tables(results, parts.headline)
    lines += [_m(legend(results)).replace("\\*", "*"), ""]
    for section in AFTER_HEADLINE:
        text = section(results, index)[1]
        if text:
            lines += [text, ""]
    lines += [*extra]
    if index.get("description"):
        lines += [_m(index["description"]), ""]
    lines += [
        f"Profile `{_m(results.profile)}`; {done} of {len(results.records)} runs finished; "
        f"{len(results.cells)} cells. Source: {_m(index.get('source', ''))}",
        "",
    ]
    lines += [link(f, f"bar_{i}.png") for i, f in enumerate(figs["bars"])] + [""]
    if figs.get("heatmaps"):
        lines += ["## Per label and per k", ""]
        lines += [link(f, f"heatmap_{i}.png") for i, f in enumerate(figs["heatmaps"])] + [""]
    if parts.secondary:
        lines += ["## Other metrics", "", *_md_tables(results, parts.secondary)]
    if parts.constants:
        rows = [
            [m, fmt(next(r.metrics[m] for r in results.records if m in r.metrics))]
            for m in parts.constants
        ]
        lines += ["## Data", "", "The same value in every run of every cell.", ""]
        lines += _md_table(["metric", "value in every run"], rows)
    if figs["curves"]:
        lines += ["## Training curves", ""]
        lines += [link(f, f"curves_{i}.png") for i, f in enumerate(figs["curves"])] + [""]
    for gallery in galleries:
        lines += [f"## {_m(gallery.title.capitalize())}", ""]
        lines += [link(f, "") for f in gallery.figures] + [""]
    lines += ["## Failures", ""]
    failures = results.failures()
    if failures:
        header = ["run", "cells", "seed", "status", "reason"]
        lines += _md_table(
            header, [[r.run_id, "; ".join(r.cells), r.seed, r.status, r.reason] for r in failures]
        )
    else:
        lines += ["None: every run finished.", ""]
    lines += ["## Glossary", ""]
    lines += _md_table(
        ["metric", "definition", "better", "range", "source"],
        [list(row) for row in glossary_rows(results, _shown(parts))],
    )
    settings = yaml.safe_dump(_settings(index), sort_keys=False, allow_unicode=True).rstrip()
    lines += ["## Settings", "", "```yaml", settings.replace("```", "'''"), "```", ""]
    header, rows = _runs_rows(results, parts.headline)
    lines += ["## Runs", "", *_md_table(header, rows)]
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
