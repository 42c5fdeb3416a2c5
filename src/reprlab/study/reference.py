"""A source's published numbers beside ours: the ``reference`` tables of a study file
(`reprlab.study.spec.ReferenceTable`) joined with a study's results.

Each reference row names one of our cells and each column one of our metrics; a table cell
shows the source's number and ours (mean ± half-width of the 95 % t-interval over seeds, as
in the results tables), with both protocols and their differences listed above the table.
A cell the profile did not run, or a metric it did not compute, shows "–".
"""

from __future__ import annotations

import html
import math
from dataclasses import dataclass
from typing import Any

from reprlab.study.expand import Cell
from reprlab.study.results import Results, Stat, fmt
from reprlab.study.spec import ReferenceRow, ReferenceTable


@dataclass
class ReferenceLine:
    """One reference row: the source's label, our matching cell and, per column, the
    source's value and our statistic."""

    row: ReferenceRow
    cell: Cell | None
    seed: list[float | None]
    ours: list[Stat | None]


@dataclass
class ReferenceView:
    """A reference table ready to render: the table, our protocol and its lines."""

    table: ReferenceTable
    ours: dict[str, str]
    lines: list[ReferenceLine]

    @property
    def headers(self) -> list[str]:
        return list(self.table.headers or self.table.columns)


def find_cell(results: Results, grid: str, labels: dict[str, str]) -> Cell | None:
    """The first of ``grid``'s cells whose axis labels include ``labels``."""
    for cell in results.cells:
        if cell.grid == grid and all(dict(cell.labels).get(a) == str(v) for a, v in labels.items()):
            return cell
    return None


def our_protocol(index: dict[str, Any], results: Results, cells: list[Cell | None]) -> dict:
    """Our side of the comparison, from the study index: data set, evaluated split and its
    size N when a metric reports it (``GROUP/n``), profile and seeds."""
    resolved = index.get("resolved", {})
    data = resolved.get("base", {}).get("data", {})
    options = resolved.get("evaluate", {}).get("options", {})
    name = str(data.get("name", "?"))
    if data.get("limit"):
        name += f" (training subset of {data['limit']})"
    split = options.get("split", "test")
    sizes = {
        s.mean
        for cell in cells
        if cell is not None
        for metric in results.metrics
        if metric.endswith("/n") and (s := results.stat(cell, metric)) is not None and s.n
    }
    evaluated = str(split)
    if len(sizes) == 1:
        evaluated += f" (N = {int(next(iter(sizes))):,})".replace(",", " ")
    seeds = resolved.get("seeds") or []
    return {
        "data set": name,
        "evaluated split": evaluated,
        "profile": str(index.get("profile")),
        "seeds": str(len(seeds)),
    }


def reference_views(index: dict[str, Any], results: Results) -> list[ReferenceView]:
    """The study's reference tables (``index['spec']['reference']``) joined with ``results``."""
    views = []
    for raw in (index.get("spec") or {}).get("reference") or []:
        table = ReferenceTable.model_validate(raw)
        lines = []
        for row in table.rows:
            cell = find_cell(results, table.grid, row.cell)
            ours = [results.stat(cell, m) if cell is not None else None for m in table.columns]
            lines.append(ReferenceLine(row, cell, list(row.values), ours))
        protocol = our_protocol(index, results, [line.cell for line in lines])
        views.append(ReferenceView(table, protocol, lines))
    return views


def _seed_text(value: float | None) -> str:
    return "–" if value is None or not math.isfinite(value) else f"{value:g}"


def _ours_text(stat: Stat | None) -> str:
    return "–" if stat is None or stat.n == 0 else fmt(stat.mean, stat.half_width)


def _pair(seed: float | None, ours: Stat | None) -> str:
    return f"{_seed_text(seed)} / {_ours_text(ours)}"


ORDER = ("data set", "N", "model", "split")


def _protocol_text(protocol: dict[str, str]) -> str:
    """``key: value`` pairs, data set, N, model and split first."""
    keys = [k for k in ORDER if k in protocol] + [k for k in protocol if k not in ORDER]
    return "; ".join(f"{k}: {protocol[k]}" for k in keys)


def to_markdown(views: list[ReferenceView]) -> str:
    """Markdown: per table, both protocols, the differences, and "source / ours" cells."""
    if not views:
        return ""
    out = ["## Published numbers beside ours", ""]
    for view in views:
        t = view.table
        out += [f"**{t.title}** ({t.source})", ""]
        out += [f"- Source's protocol: {_protocol_text(t.protocol)}"]
        out += [f"- Ours: {_protocol_text(view.ours)}"]
        out += [f"- Difference: {d}" for d in t.differences] + [""]
        header = ["source's row", "our cell", *(f"{h} (source / ours)" for h in view.headers)]
        out.append("| " + " | ".join(header) + " |")
        out.append("|---|---|" + "--:|" * len(view.headers))
        for line in view.lines:
            cell = line.cell.name if line.cell is not None else "(not run)"
            pairs = [_pair(s, o) for s, o in zip(line.seed, line.ours)]
            out.append("| " + " | ".join([line.row.label, cell, *pairs]) + " |")
        out.append("")
    return "\n".join(out) + "\n"


def to_html(views: list[ReferenceView]) -> str:
    """The same as `to_markdown`, as an HTML section."""
    if not views:
        return ""
    e = lambda text: html.escape(str(text), quote=True)  # noqa: E731
    out = ["<h2>Published numbers beside ours</h2>"]
    for view in views:
        t = view.table
        items = [f"<li>Source's protocol: {e(_protocol_text(t.protocol))}</li>"]
        items.append(f"<li>Ours: {e(_protocol_text(view.ours))}</li>")
        items += [f"<li>Difference: {e(d)}</li>" for d in t.differences]
        head = '<th class="l">source\'s row</th><th class="l">our cell</th>'
        head += "".join(f"<th>{e(h)}<br>source / ours</th>" for h in view.headers)
        body = []
        for line in view.lines:
            cell = line.cell.name if line.cell is not None else "(not run)"
            tds = f'<td class="l">{e(line.row.label)}</td><td class="l">{e(cell)}</td>'
            tds += "".join(f"<td>{e(_pair(s, o))}</td>" for s, o in zip(line.seed, line.ours))
            body.append(f"<tr>{tds}</tr>")
        out += [
            f"<p><strong>{e(t.title)}</strong> ({e(t.source)})</p><ul>{''.join(items)}</ul>",
            f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr></thead>'
            f"<tbody>{''.join(body)}</tbody></table></div>",
        ]
    return "\n".join(out)
