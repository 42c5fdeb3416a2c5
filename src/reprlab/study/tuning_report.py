"""The report's sections on how its numbers were chosen and how far to trust them: which split
each number comes from, the correction and interval used, effect sizes beside the tests,
warnings, and per cell the tuned keys, their search space, trials, chosen values and an
optimisation-history figure (``reprlab.study.tune``)."""

from __future__ import annotations

import base64
import html
import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from reprlab.study.results import CORRECTIONS, INTERVALS, Results, fmt
from reprlab.study.tune import APPLIED, CHOSEN, TUNING


@dataclass
class Section:
    """A titled list of blocks: a paragraph (``str``), a table (``(header, rows)``) or a
    figure (``Path`` relative to the study folder)."""

    title: str
    blocks: list[Any] = field(default_factory=list)


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}


def _space_text(p: dict[str, Any]) -> str:
    if p["kind"] == "choice":
        return "choice of " + ", ".join(map(str, p["values"]))
    log = " (log)" if p["kind"] == "int" and p.get("log") else ""
    return f"{p['kind']}{log} in [{p['low']:g}, {p['high']:g}]"


def _value(v: Any) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def sections(study_dir: str | Path, results: Results, index: dict[str, Any]) -> list[Section]:
    """The sections, in order: splits, statistics, warnings, tuning (when the study tunes)."""
    study_dir = Path(study_dir)
    base = index.get("resolved", {}).get("base", {})
    data = {**index.get("spec", {}).get("validation", {}), **base.get("data", {})}
    data.setdefault("val_fraction", data.get("fraction", 0))
    split = (index.get("resolved", {}).get("evaluate", {}).get("options") or {}).get(
        "split", "test"
    )
    fraction = float(data.get("val_fraction") or 0)
    held = (
        f"the validation split `val` ({fraction:.0%} of train, class-stratified, seed "
        f"{data.get('seed', 0)})"
        if fraction
        else "no validation split (the study sets validation.fraction to 0)"
    )
    out = [
        Section(
            "Splits",
            [
                f"Every number in the results tables is measured on the `{split}` split, read "
                f"once per final run (probes fit on `train`). Every choice (tuned values, the "
                f"probes' settings) was made on {held}; the training curves' `val_` columns "
                f"come from it too."
            ],
        )
    ]
    out.append(_statistics(results))
    warnings_ = _warnings(results)
    if warnings_:
        out.append(Section("Warnings", warnings_))
    tuning = _tuning(study_dir)
    if tuning is not None:
        out.append(tuning)
    return out


def _statistics(results: Results) -> Section:
    text = (
        f"Intervals: {INTERVALS[results.interval]} of the mean over seeds. Tests: each cell "
        f"against the column's best, two-sided paired t-test across seeds (Welch's where the "
        f"seeds differ); correction: {CORRECTIONS[results.correction]}, α = {results.alpha}. "
        f"Effect size: Cohen's d_z = mean / sd of the paired differences (cell − best; "
        f"Cohen's d with the pooled sd where seeds differ)."
    )
    header = ["grid", "metric", "cell", "test", "p", "p corrected", "effect d", "tied"]
    rows = []
    headline = results.select(results.headline) if results.headline else results.metrics
    for cell in results.cells:
        for metric in headline:
            s = results.stat(cell, metric)
            if s is None or not s.test:
                continue
            rows.append(
                [
                    cell.grid,
                    metric,
                    cell.name,
                    "paired" if s.test.startswith("paired") else "Welch",
                    f"{s.p_value:.3g}",
                    f"{s.p_adjusted:.3g}",
                    "–" if not math.isfinite(s.effect) else f"{s.effect:+.2f}",
                    "yes" if s.tied else "no",
                ]
            )
    return Section("Statistics", [text, (header, rows)] if rows else [text])


def _warnings(results: Results) -> list[str]:
    """The headline metrics' warnings (results.csv has every metric's)."""
    out = []
    headline = results.select(results.headline) if results.headline else results.metrics
    for cell in results.cells:
        for metric in headline:
            s = results.stat(cell, metric)
            if s is not None and s.warnings:
                out.append(f"{cell.key}, {metric}: {'; '.join(s.warnings)}.")
    return out


def _tuning(study_dir: Path) -> Section | None:
    applied = _read(study_dir / TUNING / APPLIED)
    if not applied:
        return None
    tuned = _read(study_dir / TUNING / CHOSEN)
    objective = applied["objective"]
    blocks: list[Any] = [
        f"Tuned keys are chosen per cell by `{applied['command']}`: {applied['trials']} "
        f"Optuna trials (seeded TPE sampler, median pruning), each trained on `train` and "
        f"scored by {objective['metric']} ({objective['direction']} is better) on the "
        f"validation split; the seeds then train at the best values and are evaluated on test. "
        f"*tuned here*: found by this folder's tuning (trials in {TUNING}/optuna.db); "
        f"*shipped*: found by an earlier run of that command and recorded in the study file; "
        f"*fixed*: the study file's value, not tuned."
    ]
    header = ["cell", "keys", "search space", "how chosen", "values", "trials", "best (val)"]
    rows, figures = [], []
    for cell, entry in applied["cells"].items():
        found = tuned.get(cell, {}) if entry["how"] == "tuned" else {}
        space = found.get("space", {})
        rows.append(
            [
                cell,
                ", ".join(entry["keys"]),
                "; ".join(_space_text(space[k]) for k in entry["keys"] if k in space) or "–",
                {"tuned": "tuned here", "shipped": "shipped", "fixed": "fixed"}[entry["how"]],
                ", ".join(f"{k}={_value(v)}" for k, v in entry["values"].items()) or "–",
                f"{found['complete']} + {found['pruned']} pruned" if found else "–",
                fmt(found["value"]) if found else "–",
            ]
        )
        if found.get("figure") and (study_dir / found["figure"]).is_file():
            figures.append(Path(found["figure"]))
    blocks.append((header, rows))
    blocks += figures
    return Section("Tuning", blocks)


def to_markdown(items: list[Section]) -> list[str]:
    """Markdown lines of ``items`` (figures linked relative to the study folder)."""
    lines: list[str] = []
    for section in items:
        lines += [f"## {section.title}", ""]
        for block in section.blocks:
            if isinstance(block, Path):
                lines += [f"![{block.stem}]({block.as_posix()})", ""]
            elif isinstance(block, tuple):
                header, rows = block
                lines.append("| " + " | ".join(header) + " |")
                lines.append("|" + "|".join("---" for _ in header) + "|")
                lines += ["| " + " | ".join(v.replace("|", "/") for v in r) + " |" for r in rows]
                lines.append("")
            elif section.title == "Warnings":
                lines.append(f"- ⚠ {block}")
            else:
                lines += [block, ""]
        if section.title == "Warnings":
            lines.append("")
    return lines


def to_html(items: list[Section], study_dir: str | Path) -> str:
    """HTML of ``items``, figures embedded."""
    e = html.escape
    parts = []
    for section in items:
        parts.append(f"<h2>{e(section.title)}</h2>")
        for block in section.blocks:
            if isinstance(block, Path):
                data = base64.b64encode((Path(study_dir) / block).read_bytes()).decode()
                parts.append(f'<img alt="{e(block.stem)}" src="data:image/png;base64,{data}">')
            elif isinstance(block, tuple):
                header, rows = block
                head = "".join(f'<th class="l">{e(h)}</th>' for h in header)
                body = "".join(
                    "<tr>" + "".join(f'<td class="l">{e(v)}</td>' for v in r) + "</tr>"
                    for r in rows
                )
                parts.append(
                    f'<div class="scroll"><table class="sortable"><thead><tr>{head}</tr>'
                    f"</thead><tbody>{body}</tbody></table></div>"
                )
            else:
                mark = "⚠ " if section.title == "Warnings" else ""
                parts.append(f'<p class="note">{mark}{e(block)}</p>')
    return "\n".join(parts)
