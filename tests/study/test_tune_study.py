"""A study tuned per cell on validation: selection never reads test, the seeds then train at
the chosen values, and the report says how each value was chosen and which split a number
comes from."""

import json
import os
import sys
from dataclasses import replace

import numpy as np
import pytest
import torch

import reprlab.data
from reprlab.study.expand import cells_of
from reprlab.study.report import write_report
from reprlab.study.runner import run_study
from reprlab.study.spec import parse_study
from reprlab.study.tune import APPLIED, CHOSEN, TUNING, plan, tune_study

pytest.importorskip("optuna")

SPACE_KEY = "model.loss_params.scale"


def _study(trials=4):
    return parse_study(_study_dict(trials)).resolve()


def _study_dict(trials=4):
    return {
        "name": "tiny",
        "question": "Does Cauchy's scale matter?",
        "data": {"name": "digits", "limit": 300},
        "model": {"name": "ae", "arch": "mlp", "latent_dim": 4},
        "train": {"epochs": 2, "batch_size": 64, "lr": 0.003},
        "seeds": [0, 1],
        "axes": {
            "loss": {
                "variants": {
                    "mse": {"model.loss": "mse"},
                    "cauchy": {"model.loss": "cauchy", "model.loss_params": {"scale": 0.1}},
                }
            }
        },
        "evaluate": {"metrics": ["probe-knn"]},
        "validation": {"fraction": 0.2, "seed": 0},
        "tune": {
            "space": {
                SPACE_KEY: {
                    "kind": "log-uniform",
                    "low": 0.01,
                    "high": 1.0,
                    "cells": ["*loss=cauchy*"],
                },
                "train.lr": {"kind": "log-uniform", "low": 1e-3, "high": 1e-2},
            },
            "objective": {"metric": "probe-knn/accuracy", "direction": "higher"},
            "trials": trials,
            "startup_trials": 2,
            "chosen": {"main/loss=cauchy": {SPACE_KEY: 0.05, "train.lr": 0.004}},
        },
    }


def _poison_test_labels(monkeypatch):
    real = reprlab.data.load_dataset

    def poisoned(*args, **kwargs):
        dataset = real(*args, **kwargs)
        test = dataset.splits["test"]
        labels = torch.as_tensor(test.labels)
        flipped = torch.from_numpy(np.random.default_rng(1).permutation(labels.numpy()))
        poisoned_test = replace(test, labels=(flipped + 1) % len(dataset.classes))
        return replace(dataset, splits={**dataset.splits, "test": poisoned_test})

    monkeypatch.setattr(reprlab.data, "load_dataset", poisoned)


def _trial_values(out):
    import optuna

    from reprlab.study.tune import storage

    store = storage(out / TUNING / "optuna.db")
    return {
        s.study_name: [(t.params, t.value, t.state.name) for t in optuna.load_study(
            study_name=s.study_name, storage=store).trials]
        for s in optuna.get_all_study_summaries(store)
    }  # fmt: skip


@pytest.mark.slow
def test_selection_never_reads_test(tmp_path, monkeypatch):
    clean = tune_study(_study(), tmp_path / "clean")
    _poison_test_labels(monkeypatch)
    poisoned = tune_study(_study(), tmp_path / "poisoned")
    assert set(clean) == {"main/loss=mse", "main/loss=cauchy"}
    for cell in clean:
        assert poisoned[cell]["values"] == clean[cell]["values"]
        assert poisoned[cell]["value"] == clean[cell]["value"]
    assert _trial_values(tmp_path / "clean") == _trial_values(tmp_path / "poisoned")
    assert SPACE_KEY in clean["main/loss=cauchy"]["values"]
    assert SPACE_KEY not in clean["main/loss=mse"]["values"]


def test_a_study_holds_out_a_validation_split():
    assert {(r.config.data.val_fraction, r.config.data.seed) for r in plan(_study())} == {(0.2, 0)}
    default = parse_study({"name": "d", "question": "?", "seeds": [0]}).resolve()
    assert plan(default)[0].config.data.val_fraction == 0.1
    own = parse_study(
        {"name": "d", "question": "?", "seeds": [0], "data": {"val_fraction": 0.3}}
    ).resolve()
    assert plan(own)[0].config.data.val_fraction == 0.3


def test_plain_runs_use_the_shipped_values():
    runs = plan(_study())
    cauchy = [r for r in runs if r.cells[0].key == "main/loss=cauchy"]
    assert {r.config.model.loss_params["scale"] for r in cauchy} == {0.05}
    assert {r.config.train.lr for r in cauchy} == {0.004}
    mse = [r for r in runs if r.cells[0].key == "main/loss=mse"]
    assert {r.config.train.lr for r in mse} == {0.003}


@pytest.mark.slow
def test_tuned_study_runs_seeds_at_the_chosen_values(tmp_path):
    study = _study(trials=3)
    tuned = tune_study(study, tmp_path)
    chosen = {cell: entry["values"] for cell, entry in tuned.items()}
    result = run_study(study, tmp_path, chosen=chosen, tuned=True)
    assert not result.failed and len(result.planned) == 4
    for run in result.planned:
        values = chosen[run.cells[0].key]
        assert run.config.train.lr == pytest.approx(values["train.lr"])
        assert run.config.data.val_fraction == 0.2
    applied = json.loads((tmp_path / TUNING / APPLIED).read_text())
    assert {c["how"] for c in applied["cells"].values()} == {"tuned"}
    saved = json.loads((tmp_path / TUNING / CHOSEN).read_text())
    assert (tmp_path / saved["main/loss=cauchy"]["figure"]).is_file()
    again = tune_study(study, tmp_path)  # resumes: the budget is spent, nothing runs
    assert {c: e["values"] for c, e in again.items()} == chosen
    _, md_path = write_report(tmp_path)
    report = md_path.read_text()
    for text in ("## Splits", "`test` split", "validation split `val` (20% of train",
                 "## Statistics", "Holm-Bonferroni", "## Tuning", "tuned here",
                 "log-uniform in [0.01, 1]", "3 + 0 pruned", saved["main/loss=cauchy"]["figure"],
                 "## Warnings", "only 2 seed(s)"):  # fmt: skip
        assert text in report, text
    page = (tmp_path / "report.html").read_text()
    assert "<h2>Tuning</h2>" in page and "<h2>Splits</h2>" in page


@pytest.mark.slow
def test_cli_tunes_on_ray_workers_and_runs_at_the_chosen_values(tmp_path, monkeypatch):
    """``reprlab run STUDY --tune --executor ray``: the trials run on Ray workers and land in
    OUT/tuning/optuna.db, the same trials as a local tuning's, and the final runs train at
    the best trial's values."""
    pytest.importorskip("ray")
    import optuna
    import yaml

    import reprlab.study.tune as tune
    from reprlab.cli import main
    from reprlab.study.layout import run_dir
    from reprlab.study.tune import STORE, storage

    from .test_runner import ROOT

    # Ray workers import reprlab afresh; a trial scored in this process would fail
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(ROOT / "src"), str(ROOT), *sys.path]))
    monkeypatch.setenv("RAY_AUTH_MODE", "disabled")
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    here = tune.score_config
    monkeypatch.setattr(tune, "score_config", _not_here)
    spec = _study_dict(trials=3)
    spec["seeds"] = [0]
    del spec["tune"]["space"]["train.lr"], spec["tune"]["chosen"]
    path = tmp_path / "tiny.yaml"
    path.write_text(yaml.safe_dump(spec))
    out = tmp_path / "out"
    args = ["run", str(path), "--tune", "--executor", "ray", "--out", str(out), "--no-report"]
    assert main(args) == 0

    store = storage(out / TUNING / STORE)
    [summary] = optuna.get_all_study_summaries(store)
    assert summary.study_name.startswith("main/loss=cauchy@")
    trials = optuna.load_study(study_name=summary.study_name, storage=store).trials
    finished = [t for t in trials if t.state.name in ("COMPLETE", "PRUNED")]
    assert len(finished) == 3 and all(t.state.name != "RUNNING" for t in trials)
    best = max((t for t in trials if t.state.name == "COMPLETE"), key=lambda t: t.value)
    chosen = json.loads((out / TUNING / CHOSEN).read_text())
    assert chosen["main/loss=cauchy"]["values"] == best.params
    scales = {}
    for run in json.loads((out / "study.json").read_text())["runs"]:
        assert run["status"] == "done", run
        config = yaml.safe_load((run_dir(out, run["run_id"]) / "config.yaml").read_text())
        scales[run["cells"][0]] = config["model"]["loss_params"].get("scale")
    assert scales == {"main/loss=mse": None, "main/loss=cauchy": best.params[SPACE_KEY]}
    applied = json.loads((out / TUNING / APPLIED).read_text())
    assert applied["cells"]["main/loss=cauchy"]["how"] == "tuned"
    monkeypatch.setattr(tune, "score_config", here)
    tune_study(parse_study(spec).resolve(), tmp_path / "local")
    assert _trial_values(tmp_path / "local") == _trial_values(out)


def _not_here(*args, **kwargs):
    raise AssertionError("a trial ran in the driver process, not on a Ray worker")


def test_report_says_shipped_values_were_chosen_by_the_tune_command(tmp_path):
    from reprlab.study.results import load_results
    from reprlab.study.tune import write_applied
    from reprlab.study.tuning_report import sections, to_markdown

    from .fakes import write_study

    study = _study()
    root = write_study(tmp_path, {"main/loss=cauchy": {0: {"acc": 0.5}}})
    write_applied(root, study, cells_of(plan(study)), study.spec.tune.chosen, tuned=False)
    text = "\n".join(to_markdown(sections(root, load_results(root), {})))
    assert "reprlab run tiny --tune" in text
    assert "| main/loss=cauchy | model.loss_params.scale, train.lr | – | shipped |" in text
    assert "model.loss_params.scale=0.05, train.lr=0.004" in text
    assert "| main/loss=mse | train.lr | – | shipped | – |" not in text


@pytest.mark.parametrize(
    ("param", "message"),
    [
        ({"kind": "log-uniform", "low": 0.0, "high": 1.0}, "low > 0"),
        ({"kind": "uniform", "low": 1.0, "high": 1.0}, "low < high"),
        ({"kind": "int", "low": 1.5, "high": 4}, "integer bounds"),
        ({"kind": "choice", "values": []}, "non-empty"),
        ({"kind": "normal", "low": 0, "high": 1}, "tune.space.x.kind"),
    ],
)
def test_bad_search_spaces_name_the_problem(param, message):
    from reprlab.errors import ConfigError

    study = {
        "name": "s",
        "question": "?",
        "seeds": [0],
        "tune": {"space": {"x": param}, "objective": {"metric": "m", "direction": "higher"}},
    }
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_study(study)


def test_tune_without_a_block_is_a_config_error(tmp_path):
    from reprlab.errors import ConfigError

    study = parse_study({"name": "s", "question": "?", "seeds": [0]}).resolve()
    with pytest.raises(ConfigError, match="no 'tune:' block"):
        tune_study(study, tmp_path)
