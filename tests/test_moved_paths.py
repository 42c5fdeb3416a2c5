"""Paths that moved keep working: the old ``reprlab.metric`` names (with a warning) and
``reprlab.train.Callback``."""

import pytest

import reprlab.metric_learning
from reprlab.callbacks import Callback


def test_old_metric_names_warn_and_resolve():
    with pytest.warns(DeprecationWarning, match="reprlab.metric_learning"):
        from reprlab.metric import MagnetBatchSampler, per_class_kmeans
    assert MagnetBatchSampler is reprlab.metric_learning.MagnetBatchSampler
    assert per_class_kmeans is reprlab.metric_learning.per_class_kmeans
    with pytest.raises(ImportError):
        from reprlab.metric import nothing_of_that_name  # noqa: F401


def test_train_reexports_the_callback_base():
    from reprlab.train import Callback as TrainCallback

    assert TrainCallback is Callback
