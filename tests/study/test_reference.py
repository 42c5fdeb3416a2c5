"""Reference tables: validated in the study file, joined with results, shown in the report;
and every bundled study's published numbers as the seeds print them."""

import json

import pytest

from reprlab.errors import ConfigError
from reprlab.study.reference import reference_views, to_html, to_markdown
from reprlab.study.report import write_report
from reprlab.study.results import load_results
from reprlab.study.spec import load_study, parse_study

from .fakes import write_study

BASE = {"name": "s", "question": "q?", "seeds": [0], "axes": {"loss": ["mse", "cauchy"]}}
TABLE = {
    "title": "accuracy of the MLP",
    "source": "seed 000, Results",
    "protocol": {"data set": "CIFAR-10", "N": "10 000 test images"},
    "differences": ["Fashion-MNIST instead of CIFAR-10"],
    "columns": ["probe/accuracy"],
    "headers": ["accuracy"],
    "rows": [
        {"label": "MSE+KL", "cell": {"loss": "mse"}, "values": [0.61]},
        {"label": "Cauchy", "cell": {"loss": "cauchy"}, "values": [0.78]},
    ],
}


def test_reference_block_is_validated():
    assert parse_study({**BASE, "reference": [TABLE]}).reference[0].rows[1].values == [0.78]
    bad_axis = json.loads(json.dumps(TABLE))
    bad_axis["rows"][0]["cell"] = {"lr": "mse"}
    with pytest.raises(ConfigError, match="unknown axis 'lr'"):
        parse_study({**BASE, "reference": [bad_axis]})
    bad_label = json.loads(json.dumps(TABLE))
    bad_label["rows"][0]["cell"] = {"loss": "welsch"}
    with pytest.raises(ConfigError, match="no value 'welsch'"):
        parse_study({**BASE, "reference": [bad_label]})
    bad_width = json.loads(json.dumps(TABLE))
    bad_width["rows"][0]["values"] = [0.61, 1.41]
    with pytest.raises(ConfigError, match="2 values for 1 columns"):
        parse_study({**BASE, "reference": [bad_width]})
    with pytest.raises(ConfigError, match="unknown grid"):
        parse_study({**BASE, "reference": [{**TABLE, "grid": "latent"}]})


def _study(tmp_path):
    values = {
        "main/loss=mse": {s: {"probe": {"accuracy": 0.5 + 0.01 * s}, "knn": {"n": 450}}
                          for s in range(3)},
        "main/loss=cauchy": {s: {"probe": {"accuracy": 0.7}, "knn": {"n": 450}} for s in range(3)},
    }  # fmt: skip
    root = write_study(tmp_path, values, figures=False, curves=False)
    index = json.loads((root / "study.json").read_text())
    index["spec"] = {"reference": [TABLE]}
    index["resolved"]["base"]["data"] = {"name": "digits"}
    index["resolved"]["evaluate"] = {"options": {"split": "test"}}
    (root / "study.json").write_text(json.dumps(index))
    return root, index


def test_reference_rows_set_the_source_beside_our_cells(tmp_path):
    root, index = _study(tmp_path)
    (view,) = reference_views(index, load_results(root))
    mse, cauchy = view.lines
    assert mse.cell.key == "main/loss=mse" and mse.seed == [0.61]
    assert mse.ours[0].mean == pytest.approx(0.51) and mse.ours[0].n == 3
    assert cauchy.ours[0].mean == pytest.approx(0.7)
    assert view.ours["data set"] == "digits"
    assert view.ours["evaluated split"] == "test (N = 450)"
    md = to_markdown([view])
    assert "| MSE+KL | mse | 0.61 / 0.510 ± 0.025 |" in md
    assert "- Difference: Fashion-MNIST instead of CIFAR-10" in md
    assert "Source's protocol: data set: CIFAR-10; N: 10 000 test images" in md
    assert "0.61 / 0.510 ± 0.025" in to_html([view])


def test_the_report_shows_the_reference(tmp_path):
    root, _ = _study(tmp_path)
    html_path, md_path = write_report(root)
    for text in (html_path.read_text(), md_path.read_text()):
        assert "Published numbers beside ours" in text and "0.61 / 0.510 ± 0.025" in text


def test_a_cell_the_profile_did_not_run_shows_a_dash(tmp_path):
    root, index = _study(tmp_path)
    index["spec"]["reference"][0]["rows"].append(
        {"label": "Welsch", "cell": {"loss": "welsch"}, "values": [0.33]}
    )
    (view,) = reference_views(index, load_results(root))
    assert view.lines[-1].cell is None
    assert "| Welsch | (not run) | 0.33 / – |" in to_markdown([view])


# ------------------------------------------------------------- the seeds' numbers, as printed


def _table(study, title_part):
    tables = [t for t in load_study(study).reference if title_part in t.title]
    assert len(tables) == 1, [t.title for t in load_study(study).reference]
    return tables[0]


def _rows(table):
    return {row.label: row.values for row in table.rows}


def test_000_reference_is_seed_000s_results_table():
    table = _table("robust-vae", "MLP")
    assert table.columns == ["probe-mlp-sampled/accuracy", "probe-mlp-sampled/cross_entropy"]
    assert _rows(table) == {
        "Geman-McClure": [0.54, 1.58],
        "MSE+KL": [0.61, 1.41],
        "Cauchy": [0.78, 0.89],
        "SmoothL1": [0.67, 1.30],
        "Welsch": [0.33, 1.88],
    }
    cells = {row.label: row.cell for row in table.rows}
    assert cells["SmoothL1"] == {"model": "vae", "loss": "smooth-l1"}


def test_001_reference_is_the_63_percent_pixel_classifier():
    table = _table("autoencoder-zoo", "pixels")
    assert table.columns == ["probe-pixels/accuracy"] and _rows(table) == {
        "Omniglot classifier": [0.63]
    }
    assert "Omniglot" in table.protocol["data set"]


def test_002_reference_is_seed_002s_elbo_table():
    table = _table("adaptive-likelihood-vae", "ELBO")
    values = {(r.cell["likelihood"], r.cell["representation"]): r.values[0] for r in table.rows}
    assert values == {
        ("normal", "pixels"): 8662, ("cauchy", "pixels"): 9602,
        ("student-t", "pixels"): 10177, ("adaptive", "pixels"): 10240,
        ("normal", "dct"): 31837, ("cauchy", "dct"): 31295,
        ("student-t", "dct"): 32804, ("adaptive", "dct"): 32806,
        ("normal", "wavelets"): 31505, ("cauchy", "wavelets"): 35779,
        ("student-t", "wavelets"): 36373, ("adaptive", "wavelets"): 36316,
    }  # fmt: skip
    assert table.columns == ["elbo/elbo"]


@pytest.mark.parametrize("distance", ["l1", "l2"])
def test_004_reference_holds_seed_004s_tables(distance):
    score = _table("neighbourhoods", f"score@k, {distance.upper()}")
    assert score.columns == [f"neighbours/{distance}/score@{k}" for k in (5, 10, 20, 50)]
    rows = _rows(score)
    assert set(rows) == {"linear_mse", "linear_l1", "relu_mse", "relu_l1"}
    assert rows["relu_mse"] == (
        [0.027783, 0.043683, 0.066798, 0.1113]
        if distance == "l1"
        else [0.027767, 0.043457, 0.067046, 0.11222]
    )
    cells = {row.label: row.cell for row in score.rows}
    assert cells["linear_l1"] == {"activation": "linear", "loss": "l1"}
    per_label = _table("neighbourhoods", f"per label, {distance.upper()}")
    assert per_label.columns == [f"neighbours/{distance}/per_label/{c}/score@20" for c in range(10)]
    first = _rows(per_label)["linear_mse"]
    assert first[:2] == ([0.015963, 0.047605] if distance == "l1" else [0.015955, 0.04779])
    assert _rows(per_label)["relu_l1"][-1] == (0.038779627 if distance == "l1" else 0.038334174)
    improvement = _table("neighbourhoods", f"improvement, {distance.upper()}")
    assert improvement.columns == [
        f"neighbours/{distance}/agreement@{k}/improvement" for k in (5, 10, 20, 50)
    ]
    assert _rows(improvement)["linear_mse"][0] == (-0.57288 if distance == "l1" else -0.58099)
    for table in (score, per_label, improvement):
        assert table.protocol["data set"] == "MNIST" and "60 000" in table.protocol["N"]
