"""Probe functions against scikit-learn on the same codes: the sklearn probes exactly, the
torch probes through their objective (logistic regression), their validation choices
(recomputed by brute force with scikit-learn) and their digits accuracy (within 2 points)."""

import sys
from functools import partial

import numpy as np
import pytest
import torch
from scipy.special import softmax
from sklearn.ensemble import HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import log_loss
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from reprlab.data import load_dataset
from reprlab.evaluate.probes import (
    EPS,
    PROBES,
    KNNProbe,
    LinearProbe,
    MLPProbe,
    boosting_probe,
    cross_entropy,
    forest_probe,
    knn_probe,
    logistic_probe,
    mlp_probe,
    validation_split,
)

DIGITS_TOLERANCE = 0.02  # accuracy points between a probe and scikit-learn's equivalent


@pytest.fixture(scope="module")
def codes():
    rng = np.random.default_rng(0)
    y = rng.integers(0, 3, 600)
    x = rng.normal(size=(600, 5)) + np.eye(3, 5)[y] * 1.5
    return x[:450], y[:450], x[450:], y[450:]


@pytest.fixture(scope="module")
def digits():
    """scikit-learn's 8x8 digits as reprlab loads them: torch pixels and torch labels."""
    data = load_dataset("digits")
    train, test = data.train, data.test
    flat = [s.images.reshape(len(s), -1).float() / 255 for s in (train, test)]
    return flat[0], train.labels, flat[1], test.labels


def boosting_reference():
    """What boosting_probe fits: CatBoost when installed, else HistGradientBoosting."""
    try:
        from catboost import CatBoostClassifier
    except ImportError:
        return HistGradientBoostingClassifier(early_stopping=True, random_state=0)
    return CatBoostClassifier(
        iterations=500, depth=3, random_seed=0, verbose=False, thread_count=1,
        allow_writing_files=False,
    )  # fmt: skip


def reference(model, codes):
    xtr, ytr, xte, yte = (np.asarray(a) for a in codes)
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
        (
            partial(forest_probe, trees=40),
            RandomForestClassifier(40, max_depth=30, random_state=0, n_jobs=1),
        ),
        (boosting_probe, boosting_reference()),
        (partial(knn_probe, k=10), KNeighborsClassifier(10)),
    ],
    ids=["forest", "boosting", "knn-fixed-k"],
)
def test_probe_matches_sklearn(codes, probe, model):
    ours = probe(*codes)
    ref = reference(model, codes)
    assert ours["accuracy"] == pytest.approx(ref["accuracy"])
    assert ours["cross_entropy"] == pytest.approx(ref["cross_entropy"], rel=1e-6)
    assert ours["accuracy"] > 0.6


def test_linear_probe_minimises_sklearns_logistic_objective(digits):
    """One fixed decay λ, no validation: the optimum of scikit-learn's
    LogisticRegression(C = 1 / (λ n)) on the same standardised pixels. The objective is flat
    along nearly collinear pixels, so the objective values and probabilities are compared."""
    xtr, ytr, xte, _ = (a.numpy().astype(np.float64) for a in digits)
    ytr = ytr.astype(int)
    decay = 1e-3
    ours = LinearProbe((decay,), validation=0, dtype="float64", tol=1e-9).fit(xtr, ytr)
    scaler = StandardScaler().fit(xtr)
    ref = LogisticRegression(C=1 / (decay * len(xtr)), tol=1e-10, max_iter=10000)
    ref.fit(scaler.transform(xtr), ytr)

    def objective(coef, intercept):
        p = softmax(scaler.transform(xtr) @ coef.T + intercept, axis=1)
        return log_loss(ytr, p) + decay / 2 * (coef**2).sum()

    assert ours.chosen_ == {"weight_decay": decay}
    fitted = objective(ours.coef_.numpy(), ours.intercept_.numpy())
    assert fitted == pytest.approx(objective(ref.coef_, ref.intercept_), rel=1e-9)
    np.testing.assert_allclose(
        ours.predict_proba(xte), ref.predict_proba(scaler.transform(xte)), atol=1e-4
    )


def test_linear_choice_is_the_best_validation_loss_of_sklearn(codes):
    """Brute force: scikit-learn fitted on the fit rows for each λ, log-loss on the
    validation rows; the probe's losses agree and it picks their minimum."""
    xtr, ytr, _, _ = codes
    decays = (1.0, 1e-1, 1e-2, 1e-3)
    probe = LinearProbe(decays, seed=4, tol=1e-7).fit(xtr, ytr)
    fit, val = validation_split(ytr, 0.1, seed=4)
    x = StandardScaler().fit_transform(xtr)
    losses = {}
    for decay in decays:
        ref = LogisticRegression(C=1 / (decay * len(fit)), tol=1e-10, max_iter=10000)
        ref.fit(x[fit], ytr[fit])
        losses[decay] = log_loss(ytr[val], ref.predict_proba(x[val]), labels=[0, 1, 2])
    fitted = {d: losses[d] for d in probe.validation_loss_}  # the path may stop early
    assert len(fitted) >= 3 and probe.validation_loss_ == pytest.approx(fitted, rel=1e-4)
    assert probe.chosen_ == {"weight_decay": min(losses, key=losses.get)}


def test_knn_choice_is_the_best_validation_accuracy_of_sklearn(codes):
    xtr, ytr, _, _ = codes
    probe = KNNProbe(seed=2).fit(xtr, ytr)
    fit, val = validation_split(ytr, 0.1, seed=2)
    x = StandardScaler().fit_transform(xtr)
    accuracy = {
        k: KNeighborsClassifier(k).fit(x[fit], ytr[fit]).score(x[val], ytr[val])
        for k in (1, 3, 5, 10, 20, 50)
    }
    assert probe.validation_accuracy_ == pytest.approx(accuracy)
    best = max(accuracy.values())
    assert probe.chosen_ == {"k": min(k for k, a in accuracy.items() if a == best)}


def test_validation_split_is_seeded_stratified_and_disjoint():
    y = np.repeat(np.arange(4), [40, 30, 20, 10])
    fit, val = validation_split(y, 0.1, seed=0)
    assert np.array_equal(np.sort(np.concatenate([fit, val])), np.arange(len(y)))
    assert np.array_equal(np.bincount(y[val]), [4, 3, 2, 1])
    again, other = validation_split(y, 0.1, seed=0), validation_split(y, 0.1, seed=1)
    assert np.array_equal(val, again[1]) and not np.array_equal(val, other[1])


def test_mlp_keeps_the_weights_of_its_best_validation_epoch(codes):
    xtr, ytr, _, _ = codes
    probe = MLPProbe(hidden=32, seed=1).fit(xtr, ytr)
    _, val = validation_split(ytr, 0.1, seed=1)
    best = probe.validation_loss_[probe.chosen_["weight_decay"]]
    assert best == min(probe.validation_loss_.values())
    assert log_loss(ytr[val], probe.predict_proba(xtr[val])) == pytest.approx(best, rel=1e-4)
    assert probe.chosen_["epochs"] <= probe.n_iter_ < probe.max_epochs  # stopped early


def test_mlp_networks_trained_side_by_side_do_not_interact(codes):
    """Network 0 (λ = 1e-3) has the same start and batches in both stacks; its partner's
    decay must not change its trajectory (Adam is per-element)."""
    xtr, ytr, _, _ = codes
    runs = [
        MLPProbe(hidden=16, weight_decays=(1e-3, partner), max_epochs=8, patience=100).fit(xtr, ytr)
        for partner in (1e-1, 0.0)
    ]
    assert runs[0].validation_loss_[1e-3] == pytest.approx(runs[1].validation_loss_[1e-3])
    assert runs[0].validation_loss_[1e-1] != pytest.approx(runs[1].validation_loss_[0.0])


@pytest.mark.parametrize(
    "name,model",
    [
        ("logistic", LogisticRegression(max_iter=2000)),
        ("mlp", MLPClassifier((256,), max_iter=500, random_state=0)),
        ("knn", KNeighborsClassifier(10)),
    ],
)
def test_digits_accuracy_agrees_with_sklearn(digits, name, model):
    """Within DIGITS_TOLERANCE of scikit-learn's default equivalent on the same pixels."""
    ours = PROBES[name](*digits, num_classes=10)
    ref = make_pipeline(StandardScaler(), model).fit(digits[0].numpy(), digits[1].numpy())
    expected = ref.score(digits[2].numpy(), digits[3].numpy())
    assert abs(ours["accuracy"] - expected) <= DIGITS_TOLERANCE, (ours, expected)
    assert set(ours) == {"accuracy", "cross_entropy", "chosen"}


@pytest.mark.parametrize("name", ["logistic", "mlp", "knn"])
def test_poisoned_test_labels_change_no_chosen_value(digits, name):
    xtr, ytr, xte, yte = digits
    clean = PROBES[name](xtr, ytr, xte, yte, num_classes=10)
    poisoned = PROBES[name](xtr, ytr, xte, (yte + 1) % 10, num_classes=10)
    assert poisoned["chosen"] == clean["chosen"]
    assert poisoned["accuracy"] < 0.2 < 0.9 < clean["accuracy"]  # the labels did change


def test_torch_label_tensors_from_load_dataset(digits):
    """The crash of issue "Drop-in": label tensors as load_dataset returns them."""
    as_tensors = logistic_probe(*digits)
    as_arrays = logistic_probe(*(a.numpy() for a in digits))
    assert as_tensors == as_arrays
    assert as_tensors["accuracy"] > 0.9


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
    assert a != mlp_probe(*codes, seed=4)
    linear = logistic_probe(*codes)
    assert a["accuracy"] > 0.6
    assert a["cross_entropy"] < 1.5 * linear["cross_entropy"]
    # the reported cross-entropy is that of the softmax probabilities on the test codes
    assert 0 < a["cross_entropy"] < np.log(3)


def test_probes_run_on_tensor_codes_with_a_device_argument(codes):
    xtr, ytr, xte, yte = (torch.as_tensor(a) for a in codes)
    out = logistic_probe(xtr, ytr, xte, yte, device="cpu")
    assert out == logistic_probe(*codes)


def test_mlp_networks_that_stop_leave_the_stack_without_changing_the_others(codes):
    """Dropping network 1 of three (with its Adam state) leaves networks 0 and 2 on the
    trajectory they follow in the full stack."""
    from reprlab.evaluate.probes.mlp import GROUP_DIMS, _init, _keep, _losses

    x = torch.as_tensor(codes[0], dtype=torch.float32)
    y = torch.as_tensor(codes[1])
    generator = torch.Generator().manual_seed(0)
    shapes = [((5, 3, 8), 5), ((3, 8), 5), ((3, 8, 3), 8), ((3, 1, 3), 8)]
    full = [_init(shape, fan_in, generator, x) for shape, fan_in in shapes]
    adam = torch.optim.Adam(full, lr=1e-2)

    def step(params, optimiser, rows):
        optimiser.zero_grad()
        _losses(params, x[rows], y[rows]).mean(1).sum().backward()
        optimiser.step()

    for rows in torch.arange(450).split(150):
        step(full, adam, rows)
    keep = torch.tensor([0, 2])
    part, part_adam = _keep(full, adam, keep)
    for rows in torch.arange(450).flip(0).split(100):
        step(full, adam, rows)
        step(part, part_adam, rows)
    for a, b, dim in zip(part, full, GROUP_DIMS):
        torch.testing.assert_close(a, b.index_select(dim, keep))
    assert all(p.requires_grad and p.is_leaf for p in part)


def test_mlp_records_when_each_network_stopped(codes):
    probe = MLPProbe(hidden=16, seed=1).fit(*codes[:2])
    assert set(probe.stopped_) == set(probe.weight_decays)
    assert max(probe.stopped_.values()) == probe.n_iter_
    chosen = probe.chosen_
    assert chosen["epochs"] < probe.stopped_[chosen["weight_decay"]] <= probe.n_iter_


def test_linear_probe_scipy_and_torch_lbfgs_reach_the_same_optimum(codes, monkeypatch):
    """The CPU's scipy L-BFGS-B and the device path's torch L-BFGS (run here on the CPU)
    minimise the same objective: same choice of decay, same fitted probabilities."""
    from reprlab.evaluate.probes import linear

    xtr, ytr, xte, _ = codes
    fits = {}
    for scipy_on_cpu in (True, False):
        monkeypatch.setattr(linear, "SCIPY_ON_CPU", scipy_on_cpu)
        probe = LinearProbe((1e-1, 1e-2, 1e-3), seed=1, dtype="float64", tol=1e-8)
        fits[scipy_on_cpu] = probe.fit(xtr, ytr)
    assert fits[True].chosen_ == fits[False].chosen_
    for decay, loss in fits[True].validation_loss_.items():
        assert loss == pytest.approx(fits[False].validation_loss_[decay], rel=1e-5)
    np.testing.assert_allclose(
        fits[True].predict_proba(xte), fits[False].predict_proba(xte), atol=1e-4
    )
