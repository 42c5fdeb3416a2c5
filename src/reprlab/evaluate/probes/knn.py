"""k-nearest-neighbour probe: ``p(c | x)`` is the fraction of the ``k`` nearest training rows
(Euclidean, exact: `reprlab.evaluate.knn`, on the CPU) labelled ``c``; ties in the vote go to
the lowest label, ties in distance to the lower row. ``k`` is chosen from ``ks`` by accuracy on
the validation rows (neighbours among the other training rows; ties to the smaller ``k``),
then the vote uses all training rows.
"""

from torch.nn import functional as F

from reprlab.errors import ConfigError
from reprlab.evaluate.knn import knn
from reprlab.evaluate.probes.base import Probe, torch_dtype

KS = (1, 3, 5, 10, 20, 50)


def _vote(neighbour_labels, k: int, classes: int):
    """``[Q, classes]`` fractions of the first ``k`` neighbours' labels."""
    return F.one_hot(neighbour_labels[:, :k], classes).double().mean(1)


class KNNProbe(Probe):
    """k-NN probe; ``chosen_ = {"k": k}``, ``validation_accuracy_`` per candidate ``k``."""

    def __init__(
        self, ks=KS, validation=0.1, seed=0, device=None, dtype="float64", standardise=True
    ):
        self.ks = ks
        self.validation = validation
        self.seed = seed
        self.device = device
        self.dtype = dtype
        self.standardise = standardise

    def _fit(self, x, y, fit_rows, val_rows):
        ks = sorted({int(k) for k in self.ks})
        if not ks or ks[0] < 1:
            raise ConfigError(f"ks must be positive integers, got {self.ks}")
        if val_rows is None and len(ks) > 1:
            raise ConfigError("choosing among ks needs validation > 0; or pass one k")
        self.fit_x_, self.fit_y_ = x.cpu(), y.cpu()
        self.validation_accuracy_ = {}
        if val_rows is None:
            k = ks[0]
        else:
            ks = [k for k in ks if k <= len(fit_rows)] or [len(fit_rows)]
            data, queries = self.fit_x_[fit_rows], self.fit_x_[val_rows]
            _, rows = knn(data, ks[-1], queries=queries, dtype=torch_dtype(self.dtype))
            labels, truth = self.fit_y_[fit_rows][rows], self.fit_y_[val_rows]
            for k in ks:
                accuracy = (_vote(labels, k, len(self.classes_)).argmax(1) == truth).double()
                self.validation_accuracy_[k] = float(accuracy.mean())
            k = max(ks, key=lambda k: (self.validation_accuracy_[k], -k))
        self.k_ = min(k, len(x))
        self.chosen_ = {"k": self.k_}

    def _proba(self, x):
        _, rows = knn(self.fit_x_, self.k_, queries=x, dtype=torch_dtype(self.dtype))
        return _vote(self.fit_y_[rows], self.k_, len(self.classes_))
