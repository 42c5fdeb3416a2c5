"""``reprlab run [STUDY]``: train and evaluate every run of a study, then write its report."""

from __future__ import annotations

import argparse
import textwrap
from pathlib import Path

import yaml

from reprlab.errors import ConfigError
from reprlab.rundir import RunDir


def configure(parser: argparse.ArgumentParser) -> None:
    parser.description = textwrap.fill(
        "Run a study: cross its axes, train and evaluate every cell at every seed, print the "
        "results table (mean ± 95 % CI over seeds) and write report.html and report.md. "
        "Re-running skips finished runs and resumes interrupted ones from their checkpoints."
    )
    parser.epilog = (
        "examples:\n  reprlab run                       # the default quick study "
        "on digits\n  reprlab run neighbourhoods --profile full --jobs 2\n"
        "  reprlab run my-study.yaml --set train.epochs=5 --out outputs/mine\n"
        "  reprlab run --list"
    )
    parser.add_argument(
        "study",
        nargs="?",
        default="default",
        help="a bundled study name or a path to a study YAML file "
        "(default: %(default)s; see --list)",
    )
    parser.add_argument(
        "--profile",
        default=None,
        help="named profile of the study, e.g. quick (CI-sized) or full (the "
        "seed's own scale); default: the study's default_profile",
    )
    parser.add_argument(
        "--jobs",
        "-j",
        type=int,
        default=1,
        help="runs at a time, each in its own process with cores // jobs "
        "threads (default: %(default)s)",
    )
    parser.add_argument(
        "--executor",
        choices=["local", "ray"],
        default="local",
        help="local processes, or tasks on a Ray cluster (default: %(default)s)",
    )
    parser.add_argument(
        "--address",
        default=None,
        help="Ray cluster address for --executor ray, e.g. ray://host:10001 or "
        "auto; default: start a local Ray instance listening on 127.0.0.1 only "
        "(RAY_ADDRESS is not read)",
    )
    parser.add_argument(
        "--ray-dashboard",
        action="store_true",
        help="with --executor ray and no --address: start the local cluster's dashboard "
        "(on 127.0.0.1; off by default)",
    )
    parser.add_argument(
        "--out", type=Path, default=None, help="study directory (default: outputs/STUDY/PROFILE)"
    )
    parser.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a base config value after the profile, as Hydra does, "
        "e.g. --set train.epochs=3 (VALUE is read as YAML); repeatable",
    )
    parser.add_argument(
        "--tune",
        action="store_true",
        help="first tune each cell on the validation split as the study's 'tune:' block says "
        "(Optuna, trials kept in OUT/tuning/optuna.db), then run the seeds at the best values",
    )
    parser.add_argument(
        "--dry-run", action="store_true", help="list the runs (cell, seed, run id, state) and exit"
    )
    parser.add_argument(
        "--no-report", action="store_true", help="skip writing report.html and report.md"
    )
    parser.add_argument(
        "--list", action="store_true", help="list the bundled studies with their questions and exit"
    )


def parse_overrides(items: list[str]) -> dict:
    overrides = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise ConfigError(f"--set {item!r}: expected KEY=VALUE, e.g. train.epochs=3")
        try:
            overrides[key.strip()] = yaml.safe_load(value)
        except yaml.YAMLError:
            raise ConfigError(f"--set {item!r}: VALUE is not valid YAML") from None
    return overrides


OUTPUTS = Path("outputs")


def default_out(study: str, profile: str | None, root: Path = OUTPUTS) -> Path:
    """``root/STUDY/PROFILE``, resolved; a name that would lead outside ``root`` (``..``, an
    absolute path) is a ``ConfigError``, so a study file never decides where output goes."""
    from reprlab.study.spec import check_slug  # lazy: keeps --help fast

    base = root.resolve()
    try:
        parts = [check_slug(study, "study name"), check_slug(profile or "default", "profile")]
    except ValueError as error:
        raise ConfigError(f"{error}; rename it in the study file") from None
    out = base.joinpath(*parts).resolve()
    if not out.is_relative_to(base):
        raise ConfigError(f"the study's output {str(out)!r} lies outside {str(base)!r}")
    return out


def _list() -> int:
    from reprlab.study.spec import bundled_names, load_study  # lazy: keeps --help fast

    for name in bundled_names():
        spec = load_study(name)
        print(f"{name:<26} [{', '.join(spec.profiles)}] {spec.question}")
    return 0


def run(args: argparse.Namespace) -> int:
    # lazy: keeps 'reprlab run --help' fast
    from reprlab.study import layout
    from reprlab.study.report import write_report, write_results_files
    from reprlab.study.results import to_markdown
    from reprlab.study.runner import run_study
    from reprlab.study.spec import apply_overrides, load_study
    from reprlab.study.tune import plan, tune_study

    if args.list:
        return _list()
    if args.jobs < 1:
        raise ConfigError(f"--jobs must be at least 1, got {args.jobs}")
    if args.address and args.executor != "ray":
        raise ConfigError("--address applies to --executor ray only; add --executor ray")
    spec = load_study(args.study)
    study = spec.resolve(args.profile)
    apply_overrides(study.base, parse_overrides(args.overrides))
    for item in args.overrides:  # error messages name the command line for these keys
        study.origins[item.partition("=")[0].strip()] = f"the command line (--set {item})"
    out = args.out or default_out(spec.name, study.profile)
    if args.dry_run:
        for planned in plan(study):  # validated by reprlab.train.RunConfig
            state = RunDir(layout.run_dir(out, planned.run_id)).read_status()["status"]
            cells = "; ".join(c.key for c in planned.cells)
            print(f"{planned.run_id}  seed {planned.seed}  {state:<9} {cells}")
        return 0
    runner = {
        "jobs": args.jobs,
        "executor": args.executor,
        "address": args.address,
        "dashboard": args.ray_dashboard,
    }
    chosen = None
    if args.tune:
        tuned = tune_study(study, out, **runner)
        chosen = {cell: entry["values"] for cell, entry in tuned.items()}
    result = run_study(study, out, **runner, chosen=chosen, tuned=args.tune)
    results = write_results_files(result.out)
    print()
    print(to_markdown(results, results.headline or None))
    if not args.no_report:
        html_path, md_path = write_report(result.out)
        print(f"report: {html_path}\n        {md_path}")
    failed = [r for r in results.records if r.status == "failed"]
    if failed:
        print(
            f"{len(failed)} of {len(results.records)} runs failed; their reasons are in the "
            "report's Failures section; re-run the same command to retry them"
        )
        return 1
    return 0
