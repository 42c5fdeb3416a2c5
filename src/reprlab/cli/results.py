"""``reprlab results DIR``: every metric of a study aggregated over seeds."""

from __future__ import annotations

import argparse
import textwrap
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = textwrap.fill(
        "Aggregate a study directory's metrics over seeds per cell: mean, standard deviation, "
        "95 % t-interval and n; mark the best cell per metric and the cells not significantly "
        "different from it (paired t-test across seeds, Welch's where seeds do not pair)."
    )
    parser.add_argument("dir", type=Path, help="a study directory written by 'reprlab run'")
    parser.add_argument(
        "--format",
        choices=["md", "csv", "json"],
        default="md",
        help="md: tables per grid; csv: one row per cell and metric; json: "
        "all statistics and per-seed values (default: %(default)s)",
    )
    parser.add_argument(
        "--metrics",
        nargs="+",
        default=None,
        metavar="NAME",
        help="metric names, group prefixes (probe/mlp) or globs to show; "
        "default: the study's headline metrics for md, all for csv and json",
    )
    parser.add_argument("--all", action="store_true", help="show every metric in md")


@contextmanager
def readable_study(directory: Path) -> Iterator[None]:
    """Turn a study folder whose files do not have the layout ``reprlab run`` writes (a
    ``study.json`` edited by hand to wrong types) into a one-line ``DataError``."""
    from reprlab.errors import DataError, ReprlabError

    try:
        yield
    except ReprlabError:
        raise
    except (TypeError, KeyError, AttributeError, ValueError, IndexError) as error:
        why = " ".join(f"{type(error).__name__}: {error}".split())[:200]
        raise DataError(
            f"{str(directory)!r} does not hold a study as 'reprlab run' writes it ({why}); "
            "re-run 'reprlab run' with the same study and --out to rewrite study.json"
        ) from None


def run(args: argparse.Namespace) -> int:
    # lazy: keeps 'reprlab results --help' fast
    from reprlab.study.results import load_results, to_csv, to_json, to_markdown

    with readable_study(args.dir):
        results = load_results(args.dir)
    metrics = args.metrics
    if args.format == "md":
        if metrics is None and not args.all and results.headline:
            metrics = results.headline
        print(to_markdown(results, metrics), end="")
        failures = results.failures()
        if failures:
            print(
                f"\n{len(failures)} run(s) not finished: "
                + "; ".join(f"{r.run_id} {r.status} ({r.reason})" for r in failures)
            )
    elif args.format == "csv":
        print(to_csv(results, metrics), end="")
    else:
        print(to_json(results, metrics), end="")
    return 0
