"""Bundled studies: every file validates and expands in both profiles with the real
``RunConfig``; every ``quick`` profile runs from the CLI with its report written."""

import json

import pytest

from reprlab.cli import main
from reprlab.study.backend import SEED_KEY, run_id, validate
from reprlab.study.expand import expand
from reprlab.study.spec import bundled_names, load_study

NAMES = [
    "adaptive-likelihood-vae",
    "autoencoder-zoo",
    "default",
    "magnet-repmet",
    "neighbourhoods",
    "robust-vae",
]


def test_bundled_studies_are_found():
    assert bundled_names() == NAMES


@pytest.mark.parametrize("name", NAMES)
def test_bundled_study_expands(name):
    spec = load_study(name)
    assert set(spec.profiles) >= {"quick", "full"}
    for profile in spec.profiles:
        runs = expand(spec.resolve(profile), validate, run_id, SEED_KEY)
        assert len({r.run_id for r in runs}) == len(runs)
        # quick profiles repeat over seeds so CI exercises the confidence intervals; a full
        # profile may be one seed at the source's own scale (neighbourhoods' timing target)
        assert len({r.seed for r in runs}) >= (2 if profile == "quick" else 1)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in NAMES if n != "default"])
def test_quick_profile_runs_from_the_cli(name, tmp_path, capsys):
    out = tmp_path / name
    code = main(["run", name, "--profile", "quick", "--out", str(out)])
    text = capsys.readouterr().out
    assert code == 0, text
    assert "report: " in text and (out / "report.html").is_file()
    results = json.loads((out / "results.json").read_text())
    assert results["stats"] and all(r["status"] == "done" for r in results["runs"])
    assert main(["results", str(out), "--format", "csv"]) == 0
    assert capsys.readouterr().out.startswith("grid,cell,")


@pytest.mark.slow
def test_the_main_job_runs_as_the_quickstart_says(tmp_path):
    # `reprlab run` with no study is the default study's quick profile (README, about a minute)
    import subprocess
    import sys
    from pathlib import Path

    out = tmp_path / "default"
    command = [str(Path(sys.executable).parent / "reprlab"), "run", "--out", str(out)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-2000:]
    results = json.loads((out / "results.json").read_text())
    assert len(results["runs"]) == 18 and all(r["status"] == "done" for r in results["runs"])
    table = (out / "report.md").read_text()
    for loss in ("mse", "l1", "charbonnier", "cauchy", "geman-mcclure", "adaptive"):
        assert f"| {loss} | 3/3 |" in table
    assert (out / "report.html").is_file() and "report: " in done.stdout
