"""Studies: a YAML grid of runs over seeds, run locally or on Ray, summarised with
confidence intervals in a results table and a self-contained report.

``load_study`` / ``StudySpec`` (spec), ``expand`` (grid to runs), ``run_study`` (runner),
``load_results`` (aggregation), ``write_report`` (report). Nothing here imports torch
until a study runs.
"""

from reprlab.study.expand import Cell, PlannedRun, expand
from reprlab.study.results import Results, aggregate, load_results
from reprlab.study.spec import StudySpec, bundled_names, find_study, load_study, parse_study


def __getattr__(name: str):
    if name == "run_study":
        from reprlab.study.runner import run_study

        return run_study
    if name == "write_report":
        from reprlab.study.report import write_report

        return write_report
    raise AttributeError(name)


__all__ = [
    "Cell",
    "PlannedRun",
    "Results",
    "StudySpec",
    "aggregate",
    "bundled_names",
    "expand",
    "find_study",
    "load_results",
    "load_study",
    "parse_study",
    "run_study",
    "write_report",
]
