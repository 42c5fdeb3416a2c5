"""``evaluate(run_dir, metrics, figures)``: load a trained run, compute the named metrics with a
progress bar, merge them into its ``metrics.json`` and draw the named figures.

A metric that does not apply to the model (the ELBO of a plain autoencoder) raises
``NotApplicable`` and is listed under ``skipped`` with the reason instead.
"""

import os
import sys

from rich.progress import Progress

from reprlab.data.device import resolve_device
from reprlab.evaluate.context import EvalContext, NotApplicable
from reprlab.evaluate.metrics import DEFAULT_METRICS, METRICS
from reprlab.evaluate.options import check_options
from reprlab.registry import lookup
from reprlab.rundir import RunDir
from reprlab.train import load_run
from reprlab.train.loggers import log_evaluation


def _progress(enabled: bool | None) -> Progress:
    """A rich progress bar over metrics; silent off a terminal or when CI is set."""
    if enabled is None:
        enabled = sys.stdout.isatty() and not os.environ.get("CI")
    return Progress(transient=True, disable=not enabled)


def _metrics(names) -> dict:
    """``{name: adapter}`` of ``names`` (``DEFAULT_METRICS`` when ``None``)."""
    return {n: lookup(METRICS, n, "metric") for n in (DEFAULT_METRICS if names is None else names)}


def compute(ctx: EvalContext, metrics=None, progress: bool | None = None) -> dict:
    """The named metrics of ``ctx`` (``DEFAULT_METRICS`` when ``None``):
    ``{name: {...}, "skipped": {name: reason}}``."""
    adapters = _metrics(metrics)
    results: dict = {}
    skipped: dict = {}
    with _progress(progress) as bar:
        task = bar.add_task("evaluating", total=len(adapters))
        for name, adapter in adapters.items():
            bar.update(task, description=f"evaluating {name}")
            try:
                results[name] = adapter(ctx)
            except NotApplicable as reason:
                skipped[name] = str(reason)
            bar.advance(task)
    if skipped:
        results["skipped"] = skipped
    return results


def evaluate_loaded(
    model,
    dataset,
    metrics=None,
    options=None,
    run_dir=None,
    progress: bool | None = None,
    device=None,
) -> dict:
    """The named metrics (``DEFAULT_METRICS`` when ``None``) of a model on a data set:
    ``{name: {...}, "skipped": {name: reason}}``. ``progress`` shows a bar (default: on a
    terminal, unless the environment variable CI is set). ``device`` (default: where the
    model's weights are) is where codes are computed: the model is moved there; a device
    this machine lacks is a `ConfigError`."""
    if device is not None:
        model = model.to(resolve_device(device))
    return compute(EvalContext(model, dataset, options, run_dir), metrics, progress)


def evaluate(run_dir, metrics=None, figures=(), options=None, progress=None, device=None) -> dict:
    """Evaluate the trained run in ``run_dir``: compute ``metrics`` (names in ``METRICS``;
    ``None`` means ``DEFAULT_METRICS``), merge them into ``run_dir/metrics.json`` (written
    atomically; earlier entries of other metrics are kept), draw ``figures`` (names in
    ``reprlab.evaluate.figures.FIGURES``) into ``run_dir/figures/``, and return the merged
    metrics. Figures that do not apply (prior samples of a plain autoencoder) are skipped.
    The model is evaluated on ``device`` (default: a CUDA GPU when there is one, else the
    CPU; a device this machine lacks is a `ConfigError`).
    The experiment trackers the run's config names receive the metrics and figures.
    Every name and option is checked before anything is loaded or written."""
    run = RunDir(run_dir)
    device = resolve_device(device)
    _metrics(metrics)
    check_options(options)
    if figures:
        # lazy: matplotlib loads only when figures are drawn
        from reprlab.evaluate.figures import FIGURES, draw_figures

        for name in figures:
            lookup(FIGURES, name, "figure")
    loaded = load_run(run.path)
    ctx = EvalContext(loaded.model.to(device), loaded.dataset, options, run)
    computed = compute(ctx, metrics, progress)
    merged = run.merge_metrics(computed)
    drawn = draw_figures(ctx, figures) if figures else {}
    loggers = loaded.config.train.loggers if loaded.config is not None else []
    log_evaluation(run.path, loggers, computed, [p for n, p in drawn.items() if n != "skipped"])
    return merged
