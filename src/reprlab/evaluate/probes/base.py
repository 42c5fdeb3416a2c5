"""What every probe shares: inputs as tensors on their device, label encoding, standardisation,
the validation split carved from the training rows, and the test scores.

A probe is a scikit-learn classifier (``__init__`` only stores parameters; learned state ends
in ``_``) whose ``fit`` takes numpy arrays or torch tensors (CPU or CUDA) and trains where the
features are. Its hyperparameters are chosen on a seeded, stratified validation split of the
training rows only (``chosen_``), never on the test rows.
"""

from contextlib import contextmanager

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.model_selection import train_test_split
from sklearn.utils import assert_all_finite, check_array, column_or_1d
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted
from torch import Tensor

from reprlab.errors import ConfigError

EPS = 1e-7
SMALL_WORK = 2**28  # multiply-adds per training step below which a CPU fit uses one thread


def to_numpy(a) -> np.ndarray:
    """An array from a numpy array, a list or a tensor on any device."""
    if isinstance(a, Tensor):
        return a.detach().cpu().numpy()
    return np.asarray(a)


def torch_dtype(name: str) -> torch.dtype:
    """``torch.float32`` or ``torch.float64`` from its name."""
    if name not in ("float32", "float64"):
        raise ConfigError(f"dtype must be 'float32' or 'float64', got {name!r}")
    return getattr(torch, name)


def _user_error(error: ValueError) -> ConfigError:
    return ConfigError(" ".join(str(error).split()))


def as_features(x, device=None, dtype=torch.float32, name: str = "X") -> Tensor:
    """``x`` as a finite 2-D ``dtype`` tensor on ``device`` (default: where ``x`` already is;
    arrays start on the CPU). Arrays are checked by scikit-learn's ``check_array``, tensors
    the same way on their device; a problem raises ``ConfigError`` (a ``ValueError``)."""
    try:
        if not isinstance(x, Tensor):
            x = check_array(x, input_name=name)
            x = torch.from_numpy(x if x.flags.writeable else x.copy())
        elif x.ndim != 2:
            raise ValueError(
                f"Expected 2D array, got shape {tuple(x.shape)}. Reshape your data, e.g. "
                "x.reshape(len(x), -1)"
            )
        elif x.is_complex():
            raise ValueError("Complex data not supported; pass real features")
        elif min(x.shape) == 0:
            what = "sample(s)" if len(x) == 0 else "feature(s)"
            raise ValueError(
                f"Found array with 0 {what} (shape={tuple(x.shape)}) while a minimum of 1 is "
                "required."
            )
        elif not torch.isfinite(x).all():
            raise ValueError(f"Input {name} contains NaN or infinity; clean or drop those rows")
    except ValueError as error:
        raise _user_error(error) from None
    return x.detach().to(device or x.device, dtype)


def encode_labels(y, n_rows: int) -> tuple[np.ndarray, np.ndarray]:
    """``(classes, indices)``: the sorted distinct labels and each row's index into them."""
    try:
        if y is None:
            raise ValueError("this probe requires y to be passed, but the target y is None")
        y = column_or_1d(to_numpy(y), warn=True)
        if y.dtype.kind in "fc":
            assert_all_finite(y, input_name="y")
        check_classification_targets(y)
        if len(y) != n_rows:
            raise ValueError(f"got {len(y)} labels for {n_rows} rows; pass one label per row")
    except ValueError as error:
        raise _user_error(error) from None
    classes, indices = np.unique(y, return_inverse=True)
    return classes, indices


def validation_split(labels: np.ndarray, fraction: float, seed: int) -> tuple:
    """Row indices ``(fit, validation)``: ``fraction`` of the rows held out, seeded, stratified
    by label where every class has at least two rows and the split has room for each class."""
    n = len(labels)
    if not 0 < fraction < 1:
        raise ConfigError(f"validation fraction must be in (0, 1), got {fraction}")
    if n < 2:
        raise ConfigError(f"a validation split needs at least 2 rows, got {n} (1 sample)")
    counts = np.bincount(labels)
    n_val = max(1, round(fraction * n))
    stratify = labels if counts.min() >= 2 and len(counts) <= min(n_val, n - n_val) else None
    fit, val = train_test_split(np.arange(n), test_size=n_val, random_state=seed, stratify=stratify)
    return np.sort(fit), np.sort(val)


def cross_entropy(probabilities, labels) -> float:
    """``mean -log max(p[i, y_i], EPS)``."""
    p = np.asarray(to_numpy(probabilities), dtype=np.float64)
    y = to_numpy(labels).astype(int)
    return float(-np.log(np.clip(p[np.arange(len(p)), y], EPS, 1.0)).mean())


def score(probabilities, labels) -> dict:
    """``{"accuracy", "cross_entropy"}`` of class probabilities ``[N, C]`` against labels."""
    p, y = to_numpy(probabilities), to_numpy(labels)
    return {"accuracy": float((p.argmax(1) == y).mean()), "cross_entropy": cross_entropy(p, y)}


class Probe(ClassifierMixin, BaseEstimator):
    """Base of the torch probes: ``fit`` standardises the features with the training rows'
    mean and deviation (``standardise=True``), encodes the labels and carves the validation
    split; a subclass implements ``_fit(x, y, fit_rows, val_rows)`` and ``_proba(x)``."""

    def fit(self, X, y):
        x = as_features(X, self.device, torch_dtype(self.dtype))
        self.classes_, labels = encode_labels(y, len(x))
        self.n_features_in_, self.device_ = x.shape[1], x.device
        if self.standardise:
            self.mean_, self.scale_ = x.mean(0), x.std(0, correction=0)
            self.scale_[self.scale_ == 0] = 1.0
            x = (x - self.mean_) / self.scale_
        rows = (np.arange(len(x)), None)
        if self.validation:
            rows = validation_split(labels, self.validation, self.seed)
        with self._threads(x):
            self._fit(x, torch.as_tensor(labels, device=x.device), *rows)
        return self

    def _step_work(self, x) -> int:
        """Multiply-adds of the largest product of one training step (0: leave threads)."""
        return 0

    @contextmanager
    def _threads(self, x):
        """On the CPU, fit on ``threads`` threads; ``None`` means one thread when a training
        step's largest product is under ``SMALL_WORK`` multiply-adds, else torch's setting.
        Thread hand-offs cost more than small products save, and on a loaded machine far more
        (2 cores at load average 7-9): MLPProbe on digits took 3 s on one thread and 39-46 s on
        two; LinearProbe on 60 000 x 64 codes (38 M multiply-adds a step) 14 s and 98 s."""
        threads = getattr(self, "threads", None)
        if threads is None:
            work = self._step_work(x)
            threads = 1 if 0 < work < SMALL_WORK else None
        before = torch.get_num_threads()
        if x.device.type == "cpu" and threads:
            torch.set_num_threads(threads)
        try:
            yield
        finally:
            torch.set_num_threads(before)

    def _prepare(self, X) -> Tensor:
        check_is_fitted(self)
        x = as_features(X, self.device_, torch_dtype(self.dtype))
        if x.shape[1] != self.n_features_in_:
            raise ConfigError(
                f"X has {x.shape[1]} features, but {type(self).__name__} is expecting "
                f"{self.n_features_in_} features as input; pass codes of the fitted width"
            )
        return (x - self.mean_) / self.scale_ if self.standardise else x

    def proba_tensor(self, X) -> Tensor:
        """Class probabilities ``[N, len(classes_)]`` as a float64 tensor on the fit device."""
        x = self._prepare(X)
        with self._threads(x):
            p = self._proba(x).double()
        return p / p.sum(1, keepdim=True)  # rows sum to 1 in float64, not just float32

    def predict_proba(self, X) -> np.ndarray:
        return self.proba_tensor(X).cpu().numpy()

    def predict(self, X) -> np.ndarray:
        best = self.proba_tensor(X).argmax(1).cpu().numpy()
        return self.classes_[best]

    def score(self, X, y, sample_weight=None) -> float:
        """Mean accuracy (``ClassifierMixin.score``); ``y`` may be a tensor."""
        return super().score(X, to_numpy(y), sample_weight)
