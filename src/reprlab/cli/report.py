"""``reprlab report DIR``: write a study's report.html and report.md."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = textwrap.fill(
        "Write DIR/report.html (one self-contained file: tables with 95 % CIs, bar charts, "
        "training curves, reconstruction and sample grids, projections, failures) and "
        "DIR/report.md (images in DIR/report_files/), plus results.json/csv/md."
    )
    parser.add_argument("dir", type=Path, help="a study directory written by 'reprlab run'")


def run(args: argparse.Namespace) -> int:
    # lazy: keeps 'reprlab report --help' fast
    from reprlab.cli.results import readable_study
    from reprlab.study.report import write_report, write_results_files

    with readable_study(args.dir):
        write_results_files(args.dir)
        html_path, md_path = write_report(args.dir)
    print(f"report: {html_path}\n        {md_path}")
    return 0
