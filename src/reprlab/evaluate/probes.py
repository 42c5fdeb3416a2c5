"""Probes: classifiers fitted on train codes and scored on test codes (seeds 000, 001).

Each returns ``{"accuracy", "cross_entropy"}`` on the test codes, where the cross-entropy is
``mean_i -log p_i(y_i)`` with probabilities over all ``num_classes`` labels (a class a probe
never saw gets probability 0) clipped below at ``EPS`` so it stays finite.
Codes are standardised with the train codes' mean and deviation before fitting.
"""

import numpy as np
import torch
from torch import nn

from reprlab.evaluate.knn import knn

EPS = 1e-7


def cross_entropy(probabilities, labels) -> float:
    """``mean -log max(p[i, y_i], EPS)``."""
    p = np.asarray(probabilities, dtype=np.float64)
    return float(-np.log(np.clip(p[np.arange(len(p)), np.asarray(labels)], EPS, 1.0)).mean())


def _score(probabilities, labels) -> dict:
    labels = np.asarray(labels)
    accuracy = float((np.asarray(probabilities).argmax(1) == labels).mean())
    return {"accuracy": accuracy, "cross_entropy": cross_entropy(probabilities, labels)}


def _standardise(train, test):
    train, test = np.asarray(train, np.float64), np.asarray(test, np.float64)
    mean, std = train.mean(0), train.std(0)
    std[std == 0] = 1.0
    return (train - mean) / std, (test - mean) / std


def _full_proba(model, x, num_classes: int) -> np.ndarray:
    """``predict_proba`` spread over all classes (columns for unseen classes stay 0)."""
    out = np.zeros((len(x), num_classes))
    out[:, np.asarray(model.classes_, dtype=int)] = model.predict_proba(x)
    return out


def _sklearn_probe(model, train_codes, train_labels, test_codes, test_labels, num_classes):
    xtr, xte = _standardise(train_codes, test_codes)
    model.fit(xtr, np.asarray(train_labels))
    return _score(_full_proba(model, xte, num_classes), test_labels)


def _classes(num_classes, *labels) -> int:
    return num_classes or int(max(np.max(y) for y in labels)) + 1


def logistic_probe(train_codes, train_labels, test_codes, test_labels, num_classes=None):
    """Linear probe: multinomial logistic regression (scikit-learn, L2, C=1, lbfgs)."""
    from sklearn.linear_model import LogisticRegression

    c = _classes(num_classes, train_labels, test_labels)
    model = LogisticRegression(max_iter=2000)
    return _sklearn_probe(model, train_codes, train_labels, test_codes, test_labels, c)


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

    c = _classes(num_classes, train_labels, test_labels)
    model = RandomForestClassifier(trees, max_depth=depth, random_state=seed, n_jobs=1)
    return _sklearn_probe(model, train_codes, train_labels, test_codes, test_labels, c)


def boosting_probe(train_codes, train_labels, test_codes, test_labels, num_classes=None, seed=0):
    """Gradient boosting: CatBoost (seed 001: ``max_depth=3``; 500 iterations) when installed
    (the ``studies`` extra), else scikit-learn's HistGradientBoostingClassifier (early stopping
    on 10 % of train); ``model`` names the one that ran and ``catboost`` is 1 or 0."""
    c = _classes(num_classes, train_labels, test_labels)
    try:
        from catboost import CatBoostClassifier

        model = CatBoostClassifier(
            iterations=500,
            depth=3,
            random_seed=seed,
            verbose=False,
            thread_count=1,
            allow_writing_files=False,
        )
        name = "catboost"
    except ImportError:
        from sklearn.ensemble import HistGradientBoostingClassifier

        model = HistGradientBoostingClassifier(early_stopping=True, random_state=seed)
        name = "hist_gradient_boosting"
    out = _sklearn_probe(model, train_codes, train_labels, test_codes, test_labels, c)
    return {**out, "model": name, "catboost": float(name == "catboost")}


def knn_probe(train_codes, train_labels, test_codes, test_labels, num_classes=None, k=10):
    """k-NN classifier: ``p(c)`` = fraction of the k nearest train codes (Euclidean, on
    standardised codes) labelled ``c``; ties in the vote go to the lowest label."""
    c = _classes(num_classes, train_labels, test_labels)
    xtr, xte = _standardise(train_codes, test_codes)
    _, nn_ = knn(torch.from_numpy(xtr), k, queries=torch.from_numpy(xte), dtype=torch.float64)
    votes = np.asarray(train_labels)[nn_.numpy()]
    probabilities = np.stack([(votes == label).mean(1) for label in range(c)], axis=1)
    return _score(probabilities, test_labels)


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
    lr=1e-3,
    holdout=0.1,
):
    """MLP probe (seed 000's classifier on codes): one hidden ReLU layer, Adam, cross-entropy;
    ``holdout`` of train (stratified, seeded) picks the epoch with the lowest held-out loss
    (early stopping after ``patience`` epochs without improvement), whose weights are scored."""
    from sklearn.model_selection import train_test_split

    c = _classes(num_classes, train_labels, test_labels)
    xtr, xte = _standardise(train_codes, test_codes)
    ytr = np.asarray(train_labels)
    counts = np.bincount(ytr)
    stratify = ytr if counts[counts > 0].min() >= 2 else None
    fit_i, val_i = train_test_split(
        np.arange(len(ytr)), test_size=holdout, random_state=seed, stratify=stratify
    )
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)
    model = nn.Sequential(nn.Linear(xtr.shape[1], hidden), nn.ReLU(), nn.Linear(hidden, c))
    optimiser = torch.optim.Adam(model.parameters(), lr=lr)
    x = torch.as_tensor(xtr, dtype=torch.float32)
    y = torch.as_tensor(ytr)
    xf, yf, xv, yv = x[fit_i], y[fit_i], x[val_i], y[val_i]
    best, best_state, waited = float("inf"), None, 0
    for _ in range(max_epochs):
        model.train()
        for batch in torch.randperm(len(xf), generator=generator).split(batch_size):
            optimiser.zero_grad()
            nn.functional.cross_entropy(model(xf[batch]), yf[batch]).backward()
            optimiser.step()
        model.eval()
        with torch.no_grad():
            loss = float(nn.functional.cross_entropy(model(xv), yv))
        if loss < best:
            best, waited = loss, 0
            best_state = {k: v.clone() for k, v in model.state_dict().items()}
        else:
            waited += 1
            if waited >= patience:
                break
    model.load_state_dict(best_state)
    with torch.no_grad():
        p = torch.softmax(model(torch.as_tensor(xte, dtype=torch.float32)), 1).double()
    return _score(p.numpy(), test_labels)


PROBES = {
    "logistic": logistic_probe,
    "mlp": mlp_probe,
    "knn": knn_probe,
    "forest": forest_probe,
    "boosting": boosting_probe,
}
