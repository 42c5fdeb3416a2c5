"""Aggregation over seeds, intervals and tests, checked against scipy on the same inputs."""

import json
import math

import numpy as np
import pytest
from scipy import stats

from reprlab.study.layout import flatten_metrics
from reprlab.study.results import (
    PAIRED,
    WELCH,
    direction,
    fmt,
    load_results,
    to_csv,
    to_json,
    to_markdown,
)

from .fakes import write_study

SEEDS = [0, 1, 2, 3, 4]


def _values(rng, loc, scale=0.02):
    return {
        s: {
            "probe": {"mlp": {"accuracy": float(rng.normal(loc, scale))}},
            "recon": {"mse": float(rng.normal(1 - loc, scale))},
        }
        for s in SEEDS
    }


@pytest.fixture
def study(tmp_path):
    rng = np.random.default_rng(0)
    values = {
        "main/loss=mse": _values(rng, 0.60),
        "main/loss=cauchy": _values(rng, 0.80),
        "main/loss=welsch": _values(rng, 0.79, 0.03),
    }
    return write_study(tmp_path, values), values


def _acc(values, key):
    return np.array([values[key][s]["probe"]["mlp"]["accuracy"] for s in SEEDS])


def test_mean_std_and_t_interval_match_scipy(study):
    root, values = study
    results = load_results(root)
    for key in values:
        x = _acc(values, key)
        s = results.stat(key, "probe/mlp/accuracy")
        low, high = stats.t.interval(0.95, len(x) - 1, loc=x.mean(), scale=stats.sem(x))
        assert s.n == 5
        assert s.mean == pytest.approx(x.mean(), abs=1e-12)
        assert s.std == pytest.approx(np.std(x, ddof=1), abs=1e-12)
        assert (s.ci_low, s.ci_high) == pytest.approx((low, high), abs=1e-12)


def test_best_and_paired_test_match_scipy(study):
    root, values = study
    results = load_results(root)
    acc = {k: _acc(values, k) for k in values}
    best = max(acc, key=lambda k: acc[k].mean())
    for key in values:
        s = results.stat(key, "probe/mlp/accuracy")
        assert s.best == (key == best)
        if key != best:
            p = stats.ttest_rel(acc[key], acc[best]).pvalue
            assert s.test == PAIRED
            assert s.p_value == pytest.approx(p, rel=1e-12)
            assert s.tied == (p >= 0.05)
    # mse is far worse than cauchy: significantly different; lower mse is better
    assert results.stat("main/loss=mse", "probe/mlp/accuracy").tied is False
    mse = results.stat("main/loss=cauchy", "recon/mse")
    assert results.directions["recon/mse"] == "lower"
    assert mse.best


def test_welch_when_seeds_do_not_pair(tmp_path):
    a = {0: {"acc": 0.9}, 1: {"acc": 0.92}, 2: {"acc": 0.91}}
    b = {0: {"acc": 0.5}, 1: {"acc": 0.85}, 3: {"acc": 0.7}, 4: {"acc": 0.8}}
    root = write_study(tmp_path, {"main/m=a": a, "main/m=b": b})
    s = load_results(root).stat("main/m=b", "acc")
    p = stats.ttest_ind([0.5, 0.85, 0.7, 0.8], [0.9, 0.92, 0.91], equal_var=False).pvalue
    assert s.test == WELCH and s.p_value == pytest.approx(p, rel=1e-12)


def test_failed_runs_are_excluded_and_listed(tmp_path):
    vals = {"main/m=a": {0: {"acc": 0.9}, 1: {"acc": 0.8}, 2: {"acc": 0.85}}}
    root = write_study(
        tmp_path,
        vals,
        statuses={
            ("main/m=a", 1): ("failed", "boom: it broke"),
            ("main/m=a", 2): ("diverged", "nan loss"),
        },
    )
    results = load_results(root)
    s = results.stat("main/m=a", "acc")
    assert s.n == 1 and s.mean == 0.9 and math.isnan(s.ci_low)
    assert {(r.status, r.reason) for r in results.failures()} == {
        ("failed", "boom: it broke"),
        ("diverged", "nan loss"),
    }


def test_done_without_metrics_counts_as_failed(tmp_path):
    root = write_study(tmp_path, {"main/m=a": {0: None, 1: {"acc": 1.0}}})
    results = load_results(root)
    assert [r.status for r in results.records] == ["failed", "done"]
    assert "metrics" in results.failures()[0].reason


def test_identical_cells_are_tied(tmp_path):
    same = {0: {"acc": 0.5}, 1: {"acc": 0.6}}
    root = write_study(tmp_path, {"main/m=a": same, "main/m=b": dict(same)})
    results = load_results(root)
    stats_ = [results.stat(k, "acc") for k in ("main/m=a", "main/m=b")]
    assert sum(s.best for s in stats_) == 1 and all(s.tied for s in stats_)


def test_directions():
    assert direction("probe/mlp/accuracy") == "higher"
    assert direction("probe/mlp/cross_entropy") == "lower"
    assert direction("neighbourhoods/l1/score@20") == "higher"
    assert direction("fid/reconstructions") == "lower"
    assert direction("elbo") == "higher"
    assert direction("vq/kl") is None
    assert direction("vq/kl", {"vq/*": "lower"}) == "lower"


def test_flatten_metrics():
    flat = flatten_metrics({"a": {"b": 1, "c": [0.5, 0.25]}, "name": "x", "ok": True, "n": None})
    assert flat["a/b"] == 1.0 and flat["a/c/1"] == 0.25
    assert "name" not in flat and "ok" not in flat and math.isnan(flat["n"])


def test_formats(study):
    root, values = study
    results = load_results(root)
    md = to_markdown(results)
    assert "| loss | n | probe/mlp/accuracy ↑ | recon/mse ↓ |" in md
    assert "**" in md and "5/5" in md and "ttest_rel" in md
    rows = to_csv(results).splitlines()
    assert rows[0].startswith("grid,cell,loss,metric,direction,n,mean")
    assert len(rows) == 1 + 3 * 2
    payload = json.loads(to_json(results))
    assert payload["test"] == PAIRED and len(payload["stats"]) == 6
    assert {s["cell"] for s in payload["stats"]} == set(values)
    assert fmt(0.81234, 0.0234) == "0.812 ± 0.023"
    assert fmt(8662.4, 51.0) == "8662 ± 51"
    assert fmt(float("nan")) == "–"
