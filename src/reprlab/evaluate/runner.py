"""Deprecated: the evaluation now lives in ``reprlab.evaluate.options`` (``OPTIONS``),
``.context`` (``EvalContext``, ``NotApplicable``), ``.metrics`` (``METRICS`` and the
adapters) and ``.run`` (``evaluate``, ``evaluate_loaded``); import from ``reprlab.evaluate``."""

import warnings

from reprlab.evaluate import context, metrics, options, run


def __getattr__(name: str):
    for module in (options, context, metrics, run):
        if not name.startswith("_") and hasattr(module, name):
            value = getattr(module, name)
            home = getattr(value, "__module__", None) or module.__name__
            warnings.warn(
                f"reprlab.evaluate.runner.{name} is deprecated; import it from {home}",
                DeprecationWarning,
                stacklevel=2,
            )
            return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
