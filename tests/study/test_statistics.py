"""Holm's correction, BCa bootstrap intervals, effect sizes and NaN seeds, checked against
statsmodels and scipy on the same inputs."""

import csv
import io
import math

import numpy as np
import pytest
from scipy import stats

from reprlab.study.results import (
    aggregate,
    bootstrap_interval,
    holm,
    load_results,
    to_csv,
    to_markdown,
)

from .fakes import write_study

multipletests = pytest.importorskip("statsmodels.stats.multitest").multipletests


@pytest.mark.parametrize("seed", range(5))
def test_holm_matches_statsmodels(seed):
    rng = np.random.default_rng(seed)
    p = rng.uniform(0, 0.2, size=int(rng.integers(1, 12)))
    p[rng.random(len(p)) < 0.2] = p[0]  # ties
    ours = holm(p.tolist())
    theirs = multipletests(p, alpha=0.05, method="holm")[1]
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-15)


def test_holm_leaves_nan_out():
    adjusted = holm([0.01, math.nan, 0.04])
    np.testing.assert_allclose(
        [adjusted[0], adjusted[2]], multipletests([0.01, 0.04], method="holm")[1]
    )
    assert math.isnan(adjusted[1])


def test_bootstrap_interval_is_scipys_bca():
    x = np.array([0.81, 0.79, 0.84, 0.80, 0.86, 0.78, 0.83])
    theirs = stats.bootstrap(
        (x,), np.mean, n_resamples=9999, method="BCa", rng=np.random.default_rng(0)
    ).confidence_interval
    assert bootstrap_interval(x) == pytest.approx((theirs.low, theirs.high), abs=1e-12)
    assert all(math.isnan(v) for v in bootstrap_interval(np.array([0.5, 0.5, 0.5])))
    assert all(math.isnan(v) for v in bootstrap_interval(np.array([0.5])))


def _study(tmp_path, interval="t", correction="holm"):
    rng = np.random.default_rng(3)
    seeds = range(6)
    locs = {"a": 0.80, "b": 0.79, "c": 0.70, "d": 0.78}
    values = {
        f"main/m={k}": {s: {"acc": float(rng.normal(loc, 0.02))} for s in seeds}
        for k, loc in locs.items()
    }
    root = write_study(tmp_path, values)
    records = load_results(root).records
    cells = load_results(root).cells
    return values, aggregate(records, cells, interval=interval, correction=correction)


def test_columns_are_holm_corrected_with_paired_effect_sizes(tmp_path):
    values, results = _study(tmp_path)
    x = {k: np.array([v[s]["acc"] for s in sorted(v)]) for k, v in values.items()}
    best = max(x, key=lambda k: x[k].mean())
    others = [k for k in x if k != best]
    raw = [stats.ttest_rel(x[k], x[best]).pvalue for k in others]
    reject, adjusted, *_ = multipletests(raw, alpha=0.05, method="holm")
    for k, p, q, r in zip(others, raw, adjusted, reject):
        s = results.stat(k, "acc")
        assert s.p_value == pytest.approx(p, rel=1e-12)
        assert s.p_adjusted == pytest.approx(q, rel=1e-12)
        assert s.tied == (not r)
        d = x[k] - x[best]
        assert s.effect == pytest.approx(d.mean() / d.std(ddof=1), rel=1e-12)
    assert results.stat(best, "acc").best
    assert "Holm-Bonferroni" in to_markdown(results)
    rows = list(csv.DictReader(io.StringIO(to_csv(results))))
    assert {r["correction"] for r in rows if r["test"]} == {"holm"}


def test_no_correction_keeps_raw_p(tmp_path):
    _, results = _study(tmp_path, correction="none")
    for s in results.stats.values():
        if s.test:
            assert s.p_adjusted == s.p_value
    assert "no multiple-comparison correction" in to_markdown(results)


def test_bootstrap_option_gives_bca_intervals(tmp_path):
    values, results = _study(tmp_path, interval="bootstrap")
    for key, per_seed in values.items():
        x = np.array([per_seed[s]["acc"] for s in sorted(per_seed)])
        ci = stats.bootstrap(
            (x,), np.mean, n_resamples=9999, method="BCa", rng=np.random.default_rng(0)
        ).confidence_interval
        s = results.stat(key, "acc")
        assert (s.ci_low, s.ci_high) == pytest.approx((ci.low, ci.high), abs=1e-12)
    assert "BCa bootstrap" in to_markdown(results)


def test_nan_seeds_are_not_counted_and_are_listed(tmp_path):
    values = {
        "main/m=a": {0: {"acc": 0.9}, 1: {"acc": None}, 2: {"acc": None}},
        "main/m=b": {0: {"acc": 0.8}, 1: {"acc": 0.82}, 2: {"acc": 0.81}},
    }
    results = load_results(write_study(tmp_path, values))
    s = results.stat("main/m=a", "acc")
    assert s.n == 1 and s.missing == [1, 2]
    assert any("only 1 seed" in w for w in s.warnings)
    rows = {r["cell"]: r for r in csv.DictReader(io.StringIO(to_csv(results)))}
    assert rows["main/m=a"]["n"] == "1" and rows["main/m=a"]["nan_seeds"] == "1 2"
    table = to_markdown(results)
    line = next(row for row in table.splitlines() if row.startswith("| a "))
    assert "(n=1; NaN: seed 1, 2)" in line and "⚠" in line
    assert "3/3" in line  # the runs all finished; the entry says how many have a value
    assert "⚠" not in next(row for row in table.splitlines() if row.startswith("| b "))
