"""Probe functions: fit on train codes, score on test codes (seeds 000, 001).

Each returns ``{"accuracy", "cross_entropy"}`` on the test codes, where the cross-entropy is
``mean_i -log p_i(y_i)`` with probabilities over all ``num_classes`` labels (a class a probe
never saw gets probability 0) clipped below at ``EPS`` so it stays finite; the torch probes add
``"chosen"``, the hyperparameters picked on the validation rows carved from the training codes.
Codes and labels may be numpy arrays or torch tensors (CPU or CUDA); codes are standardised
with the train codes' mean and deviation before fitting.
"""

import numpy as np

from reprlab.evaluate.probes.base import score, to_numpy
from reprlab.evaluate.probes.knn import KNNProbe
from reprlab.evaluate.probes.linear import WEIGHT_DECAYS as LINEAR_DECAYS
from reprlab.evaluate.probes.linear import LinearProbe
from reprlab.evaluate.probes.mlp import WEIGHT_DECAYS as MLP_DECAYS
from reprlab.evaluate.probes.mlp import MLPProbe


def full_proba(model, x, num_classes: int) -> np.ndarray:
    """``predict_proba`` spread over all classes (columns for unseen classes stay 0)."""
    out = np.zeros((len(x), num_classes))
    out[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(x)
    return out


def _classes(num_classes, *labels) -> int:
    return num_classes or int(max(to_numpy(y).max() for y in labels)) + 1


def _run(model, train_codes, train_labels, test_codes, test_labels, num_classes) -> dict:
    c = _classes(num_classes, train_labels, test_labels)
    model.fit(train_codes, train_labels)
    out = score(full_proba(model, test_codes, c), test_labels)
    return {**out, "chosen": model.chosen_} if hasattr(model, "chosen_") else out


def _standardise(train, test):
    train, test = to_numpy(train).astype(np.float64), to_numpy(test).astype(np.float64)
    mean, std = train.mean(0), train.std(0)
    std[std == 0] = 1.0
    return (train - mean) / std, (test - mean) / std


def _sklearn_probe(model, train_codes, train_labels, test_codes, test_labels, num_classes):
    xtr, xte = _standardise(train_codes, test_codes)
    return _run(model, xtr, to_numpy(train_labels), xte, test_labels, num_classes)


def logistic_probe(
    train_codes,
    train_labels,
    test_codes,
    test_labels,
    num_classes=None,
    seed=0,
    weight_decays=LINEAR_DECAYS,
    validation=0.1,
    device=None,
):
    """Linear probe: multinomial logistic regression (`LinearProbe`: L-BFGS in torch on the
    codes' device, L2 weight decay chosen on ``validation`` of the train codes)."""
    model = LinearProbe(
        weight_decays=weight_decays, validation=validation, seed=seed, device=device
    )
    return _run(model, train_codes, train_labels, test_codes, test_labels, num_classes)


def mlp_probe(
    train_codes,
    train_labels,
    test_codes,
    test_labels,
    num_classes=None,
    seed=0,
    hidden=256,
    max_epochs=200,
    patience=10,
    batch_size=256,
    lr=3e-3,
    holdout=0.1,
    weight_decays=MLP_DECAYS,
    device=None,
):
    """MLP probe (seed 000's classifier on codes; `MLPProbe`): one hidden ReLU layer, Adam,
    cross-entropy; ``holdout`` of train (stratified, seeded) chooses the weight decay and the
    epoch (early stopping after ``patience`` epochs without improvement) whose weights are
    scored."""
    model = MLPProbe(
        hidden=hidden,
        weight_decays=weight_decays,
        max_epochs=max_epochs,
        patience=patience,
        batch_size=batch_size,
        lr=lr,
        validation=holdout,
        seed=seed,
        device=device,
    )
    return _run(model, train_codes, train_labels, test_codes, test_labels, num_classes)


def knn_probe(train_codes, train_labels, test_codes, test_labels, num_classes=None, k=None, seed=0):
    """k-NN classifier (`KNNProbe`) on standardised codes; ``k=None`` chooses k on 10 % of the
    train codes, an integer fixes it."""
    model = KNNProbe(validation=0.1, seed=seed) if k is None else KNNProbe((k,), validation=0)
    return _run(model, train_codes, train_labels, test_codes, test_labels, num_classes)


def forest_probe(
    train_codes,
    train_labels,
    test_codes,
    test_labels,
    num_classes=None,
    seed=0,
    trees=200,
    depth=30,
):
    """Random forest (scikit-learn), seed 001's 200 trees of depth at most 30."""
    from sklearn.ensemble import RandomForestClassifier

    model = RandomForestClassifier(trees, max_depth=depth, random_state=seed, n_jobs=1)
    return _sklearn_probe(model, train_codes, train_labels, test_codes, test_labels, num_classes)


def boosting_probe(train_codes, train_labels, test_codes, test_labels, num_classes=None, seed=0):
    """Gradient boosting: CatBoost (seed 001: ``max_depth=3``; 500 iterations) when installed
    (the ``studies`` extra), else scikit-learn's HistGradientBoostingClassifier (early
    stopping on 10 % of train); ``model`` names the one that ran and ``catboost`` is 1 or 0."""
    try:
        from catboost import CatBoostClassifier

        model = CatBoostClassifier(
            iterations=500,
            depth=3,
            random_seed=seed,
            verbose=False,
            thread_count=1,
            allow_writing_files=False,  # no catboost_info/ folder in the working directory
        )
        name = "catboost"
    except ImportError:
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(early_stopping=True, random_state=seed)
        name = "hist_gradient_boosting"
    out = _sklearn_probe(model, train_codes, train_labels, test_codes, test_labels, num_classes)
    return {**out, "model": name, "catboost": float(name == "catboost")}


PROBES = {
    "logistic": logistic_probe,
    "mlp": mlp_probe,
    "knn": knn_probe,
    "forest": forest_probe,
    "boosting": boosting_probe,
}
