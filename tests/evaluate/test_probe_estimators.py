"""The torch probes as scikit-learn estimators: scikit-learn's own estimator checks, Pipeline,
cross_val_score and clone, tensor inputs, and one-line errors for bad input."""

import numpy as np
import pytest
import torch
from sklearn.base import clone
from sklearn.datasets import load_iris
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.neighbors import KNeighborsClassifier
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import Pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from reprlab.errors import ConfigError
from reprlab.evaluate.probes import KNNProbe, LinearProbe, MLPProbe


@parametrize_with_checks(
    [LinearProbe(), MLPProbe(hidden=16, max_epochs=20), KNNProbe()],
    expected_failed_checks=lambda estimator: {},
)
def test_sklearn_estimator_checks(estimator, check):
    check(estimator)


@pytest.mark.parametrize(
    "probe,model",
    [
        (LinearProbe(standardise=False), LogisticRegression(max_iter=2000)),
        (MLPProbe(standardise=False, hidden=64), MLPClassifier((64,), max_iter=2000)),
        (KNNProbe(standardise=False), KNeighborsClassifier(10)),
    ],
    ids=["linear", "mlp", "knn"],
)
def test_pipeline_cross_val_score_agrees_with_sklearn(probe, model):
    x, y = load_iris(return_X_y=True)
    folds = StratifiedKFold(5, shuffle=True, random_state=0)
    scores = [
        cross_val_score(Pipeline([("scale", StandardScaler()), ("probe", m)]), x, y, cv=folds)
        for m in (probe, model)
    ]
    assert scores[0].mean() == pytest.approx(scores[1].mean(), abs=0.04)
    assert scores[0].mean() > 0.85


def test_clone_keeps_parameters_and_drops_learned_state():
    probe = LinearProbe(weight_decays=(1e-2,), validation=0, seed=3).fit([[0.0], [1.0]], [0, 1])
    copy = clone(probe)
    assert copy.get_params() == probe.get_params()
    assert hasattr(probe, "coef_") and not hasattr(copy, "coef_")


@pytest.mark.parametrize("probe", [LinearProbe(), MLPProbe(hidden=8), KNNProbe()])
def test_tensor_and_string_labels(probe):
    x, y = load_iris(return_X_y=True)
    classes = np.array(["setosa", "versicolor", "virginica"])
    names = classes[y]
    from_tensor = clone(probe).fit(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y))
    from_names = clone(probe).fit(x.astype(np.float32), names)
    assert set(from_names.predict(x)) <= set(names)
    assert np.array_equal(classes[from_tensor.predict(x)], from_names.predict(x))
    assert from_tensor.score(torch.as_tensor(x), torch.as_tensor(y)) > 0.9


def test_bad_input_raises_one_line_config_errors():
    x = np.random.default_rng(0).normal(size=(20, 3))
    y = np.arange(20) % 2
    bad = x.copy()
    bad[3, 1] = np.nan
    cases = [
        (lambda: LinearProbe().fit(torch.as_tensor(bad), y), "NaN"),
        (lambda: LinearProbe().fit(torch.zeros(4, 2, 2), [0, 1, 0, 1]), "Reshape"),
        (lambda: LinearProbe().fit(x, y).predict(x[:, :2]), "expecting 3 features"),
        (lambda: LinearProbe(validation=0).fit(x, y), "validation > 0"),
        (lambda: MLPProbe(dtype="float16").fit(x, y), "dtype"),
        (lambda: KNNProbe(ks=(0, 1)).fit(x, y), "positive"),
        (lambda: LinearProbe().fit(x, y[:5]), "one label per row"),
    ]
    for call, words in cases:
        with pytest.raises(ConfigError, match=words) as error:
            call()
        assert "\n" not in str(error.value)
