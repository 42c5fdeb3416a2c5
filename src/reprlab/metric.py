"""Deprecated alias: the package ``reprlab.metric`` is renamed `reprlab.metric_learning`, and
its ``model`` module is now the ``embedder`` family, `reprlab.models.embedder`. The old
package's names still resolve here, with a ``DeprecationWarning``."""

import warnings

import reprlab.metric_learning as _metric_learning


def __getattr__(name: str):
    if name not in _metric_learning.__all__:
        raise AttributeError(f"module 'reprlab.metric' has no attribute {name!r}")
    warnings.warn(
        f"reprlab.metric is renamed reprlab.metric_learning; import {name} from there",
        DeprecationWarning,
        stacklevel=2,
    )
    return getattr(_metric_learning, name)
