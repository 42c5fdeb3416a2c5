"""Probes against scikit-learn fitted the same way on the same codes."""

import sys
from functools import partial

import numpy as np
import pytest
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.neighbors import KNeighborsClassifier
from sklearn.preprocessing import StandardScaler

from reprlab.evaluate.probes import (
    EPS,
    boosting_probe,
    cross_entropy,
    forest_probe,
    knn_probe,
    logistic_probe,
    mlp_probe,
)


@pytest.fixture(scope="module")
def codes():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x = rng.normal(size=(600, 5)) + np.eye(3, 5)[y] * 1.5
    return x[:450], y[:450], x[450:], y[450:]


def reference(model, codes):
    xtr, ytr, xte, yte = codes
    scaler = StandardScaler().fit(xtr)
    model.fit(scaler.transform(xtr), ytr)
    p = model.predict_proba(scaler.transform(xte))
    clipped = np.clip(p[np.arange(len(yte)), yte], EPS, 1)  # k-NN gives exact zeros
    return {
        "accuracy": float((p.argmax(1) == yte).mean()),
        "cross_entropy": -np.log(clipped).mean(),
    }


def test_cross_entropy_matches_log_loss_and_clips_missing_classes():
    p = np.array([[0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.3, 0.4, 0.3]])
    y = np.array([0, 2, 1])
    assert cross_entropy(p, y) == pytest.approx(log_loss(y, p))
    zero = np.array([[1.0, 0.0, 0.0]])
    assert cross_entropy(zero, [1]) == pytest.approx(-np.log(EPS))


@pytest.mark.parametrize(
    "probe,model",
    [
        (logistic_probe, LogisticRegression(max_iter=2000)),
        (
            partial(forest_probe, trees=40),
            RandomForestClassifier(40, max_depth=30, random_state=0, n_jobs=1),
        ),
        (knn_probe, KNeighborsClassifier(10)),
    ],
    ids=["logistic", "forest", "knn"],
)
def test_probe_matches_sklearn(codes, probe, model):
    ours = probe(*codes)
    ref = reference(model, codes)
    assert ours["accuracy"] == pytest.approx(ref["accuracy"])
    assert ours["cross_entropy"] == pytest.approx(ref["cross_entropy"], rel=1e-6)
    assert ours["accuracy"] > 0.6


def test_boosting_is_catboost_at_depth_3_or_a_named_substitute(codes, monkeypatch):
    catboost = pytest.importorskip("catboost")
    ours = boosting_probe(*codes)
    model = catboost.CatBoostClassifier(
        iterations=500,
        depth=3,
        random_seed=0,
        verbose=False,
        thread_count=1,
        allow_writing_files=False,
    )  # seed 001: max_depth=3
    ref = reference(model, codes)
    assert ours["accuracy"] == pytest.approx(ref["accuracy"])
    assert ours["cross_entropy"] == pytest.approx(ref["cross_entropy"], rel=1e-6)
    assert (ours["model"], ours["catboost"]) == ("catboost", 1.0)
    monkeypatch.setitem(sys.modules, "catboost", None)  # not installed: the substitute runs
    substitute = boosting_probe(*codes)
    ref = reference(HistGradientBoostingClassifier(early_stopping=True, random_state=0), codes)
    assert substitute["accuracy"] == pytest.approx(ref["accuracy"])
    assert (substitute["model"], substitute["catboost"]) == ("hist_gradient_boosting", 0.0)
    assert substitute["accuracy"] > 0.6


def test_unseen_test_class_gets_clipped_probability(codes):
    xtr, ytr, xte, yte = codes
    keep = ytr != 2
    out = logistic_probe(xtr[keep], ytr[keep], xte, yte, num_classes=3)
    assert np.isfinite(out["cross_entropy"])
    assert out["cross_entropy"] > (yte == 2).mean() * -np.log(EPS) * 0.99
    assert out["accuracy"] <= 1 - (yte == 2).mean() + 1e-12


def test_mlp_probe_learns_and_is_seeded(codes):
    a = mlp_probe(*codes, seed=3)
    assert a == mlp_probe(*codes, seed=3)
    linear = logistic_probe(*codes)
    assert a["accuracy"] > 0.6
    assert a["cross_entropy"] < 1.5 * linear["cross_entropy"]
    # the reported cross-entropy is that of the softmax probabilities on the test codes
    assert 0 < a["cross_entropy"] < np.log(3)
