"""``reprlab eval RUN_DIR [--metrics NAMES] [--figures [NAMES]] [--option KEY=VALUE]
[--device D] [--json]``: a short table of what was computed, or every number as JSON with
``--json``."""

import argparse
import json
import re

import yaml
from rich import box
from rich.console import Console
from rich.table import Table

from reprlab.errors import ConfigError
from reprlab.evaluate import DEFAULT_METRICS, METRICS, OPTIONS, evaluate
from reprlab.evaluate.figures import FIGURES, describe_figure
from reprlab.evaluate.metrics import describe


def _epilog() -> str:
    lines = ["metrics (* = computed when --metrics is not given):"]
    lines += [f"  {n + ('*' if n in DEFAULT_METRICS else ''):<17} {describe(n)}" for n in METRICS]
    lines += ["", "figures (written to RUN_DIR/figures/NAME.png):"]
    lines += [f"  {n:<17} {describe_figure(n)}" for n in FIGURES]
    lines += ["", "options (--option KEY=VALUE, value in YAML):"]
    lines += [f"  {n:<17} {help_} (default {default})" for n, (default, help_) in OPTIONS.items()]
    return "\n".join(lines)


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = (
        "Evaluate a trained run: compute metrics into RUN_DIR/metrics.json (merged with what "
        "is there) and optionally draw figures into RUN_DIR/figures/."
    )
    parser.epilog = _epilog()
    parser.add_argument("run_dir", metavar="RUN_DIR", help="a run directory made by training")
    parser.add_argument(
        "--metrics",
        metavar="NAMES",
        help="comma-separated metric names (listed below); default: the starred ones",
    )
    parser.add_argument(
        "--figures",
        nargs="?",
        const="all",
        metavar="NAMES",
        help="draw figures: comma-separated names (listed below), or all when no names follow",
    )
    parser.add_argument(
        "--json",
        action="store_true",
        help="print every computed number as JSON instead of the summary table",
    )
    parser.add_argument(
        "--device",
        help="where the model runs: cpu, cuda or cuda:N (default: cuda when there is a GPU)",
    )
    parser.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an evaluation option (listed below); repeat for several",
    )


def _names(text: str | None) -> list[str] | None:
    return None if text is None else [n.strip() for n in text.split(",") if n.strip()]


def _options(pairs: list[str]) -> dict:
    options = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise ConfigError(f"--option {pair!r} is not KEY=VALUE; e.g. --option split=val")
        options[key.strip()] = yaml.safe_load(value)
    return options


def run(args: argparse.Namespace) -> int:
    figures = _names(args.figures)
    if figures == ["all"]:
        figures = list(FIGURES)
    names = _names(args.metrics)
    metrics = evaluate(
        args.run_dir, names, figures or (), _options(args.option), device=args.device
    )
    if args.json:
        print(json.dumps(metrics, indent=2, sort_keys=True))
        return 0
    computed = list(DEFAULT_METRICS if names is None else names)
    Console(highlight=False).print(summary_table(metrics, computed, figures or []))
    print(f"all values: {args.run_dir}/metrics.json (or --json)")
    return 0


def summary_rows(metrics: dict, names: list[str]) -> tuple[list[int], list[tuple[str, ...]]]:
    """The ks and ``(metric, quantity, value, value at each k...)`` rows: values that differ
    only by k (``score@5``, ``score@10``) share a row, per-label values are counted, not shown,
    and a skipped metric gives its reason."""
    from reprlab.study.layout import flatten_metrics

    singles, by_k, labels = [], {}, {}
    for name in names:
        for key, value in flatten_metrics(metrics.get(name, {})).items():
            if "per_label/" in key:
                family = re.sub(r"per_label/[^/]+/", "per_label/*/", re.sub(r"@\d+", "@k", key))
                labels.setdefault((name, family), set()).add(
                    key.split("per_label/")[1].split("/")[0]
                )
            elif match := re.search(r"@(\d+)", key):
                row = by_k.setdefault((name, key.replace(match.group(0), "@k")), {})
                row[int(match.group(1))] = value
            else:
                singles.append((name, key, f"{value:.4g}"))
    ks = sorted({k for row in by_k.values() for k in row})
    rows = [(*row, *[""] * len(ks)) for row in singles]
    for (name, key), row in by_k.items():
        rows.append((name, key, "", *(f"{row[k]:.3g}" if k in row else "" for k in ks)))
    for (name, key), found in labels.items():
        rows.append((name, key, f"{len(found)} labels", *[""] * len(ks)))
    for name, reason in metrics.get("skipped", {}).items():
        if name in names:
            rows.append((name, f"skipped: {reason}", "", *[""] * len(ks)))
    order = {n: i for i, n in enumerate(names)}
    rows.sort(key=lambda r: order.get(r[0], len(order)))
    return ks, rows


def summary_table(metrics: dict, names: list[str], figures: list[str]) -> Table:
    """What ``reprlab eval`` computed, in a few rows (every number: ``--json``)."""
    ks, rows = summary_rows(metrics, names)
    table = Table(box=box.SIMPLE_HEAD, pad_edge=False, padding=(0, 1))
    table.add_column("metric / quantity", overflow="fold")
    table.add_column("value", justify="right", overflow="fold")
    for k in ks:
        table.add_column(f"k={k}", justify="right")
    blank = [""] * (1 + len(ks))
    current = None
    for name, *rest in rows:
        if name != current:
            table.add_row(f"[bold]{name}[/bold]", *blank)
            current = name
        table.add_row(f"  {rest[0]}", *rest[1:])
    if figures:
        table.add_row("[bold]figures[/bold]", *blank)
    for name in figures:
        table.add_row(f"  figures/{name}.png", *blank)
    return table
