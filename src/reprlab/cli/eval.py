"""``reprlab eval RUN_DIR [--metrics NAMES] [--figures [NAMES]] [--option KEY=VALUE]``."""

import argparse
import json

import yaml

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
    metrics = evaluate(args.run_dir, _names(args.metrics), figures or (), _options(args.option))
    print(json.dumps(metrics, indent=2, sort_keys=True))
    return 0
