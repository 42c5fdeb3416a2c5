"""``evaluate(run_dir, metrics)``: load a trained run, compute the named metrics, merge them
into ``metrics.json`` (atomically), and draw the named figures.

Each entry of ``METRICS`` is a function of an ``EvalContext`` returning a dict of numbers; its
docstring's first line is what ``reprlab eval --help`` shows. A metric that does not apply to
the model (ELBO of a plain autoencoder) raises ``NotApplicable`` and is listed under
``skipped`` with the reason instead.
"""

import inspect
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from reprlab.atomic import write_json
from reprlab.errors import ConfigError
from reprlab.evaluate.embed import embed, reconstruct
from reprlab.registry import lookup


class NotApplicable(Exception):
    """The metric does not apply to this model; the message says why."""


OPTIONS = {
    "split": ("test", "split the codes are judged on (probes fit on train)"),
    "seed": (0, "seed of every random choice (k-means, probes, sampled codes, prior samples)"),
    "sample": (False, "probe sampled posterior codes instead of means (seed 000)"),
    "ks": ([5, 10, 20, 50], "neighbourhood sizes for score@k and label agreement"),
    "trust_k": (10, "neighbourhood size of trustworthiness and continuity"),
    "max_points": (10000, "neighbourhood, trustworthiness and retrieval use at most this many"),
    "batch_size": (500, "images per batch when embedding"),
    "fid_epochs": (3, "epochs of the FID feature classifier"),
    "fid_min_steps": (1000, "at least this many steps for the FID classifier (small data sets)"),
    "prior_samples": (10000, "prior samples for FID (at most the split's size)"),
    "projection": ("auto", "figures: 2-D projection, auto (UMAP if installed, else t-SNE), pca"),
    "trim": (0.05, "figures: fraction of outlying codes left off the MDS sphere"),
}


@dataclass
class EvalContext:
    """A loaded run with lazily computed, cached codes and reconstructions."""

    model: Any
    dataset: Any
    options: dict
    run_dir: Path | None = None
    _cache: dict = field(default_factory=dict)

    def __getattr__(self, name):
        if name in OPTIONS:
            return self.options.get(name, OPTIONS[name][0])
        raise AttributeError(name)

    def split(self, name: str | None = None):
        return self.dataset.splits[name or self.options.get("split", "test")]

    def codes(self, name: str | None = None, sample: bool = False) -> np.ndarray:
        key = ("codes", name or self.split_name, sample)
        if key not in self._cache:
            codes = embed(self.model, self.split(name), self.batch_size, sample, self.seed)
            self._cache[key] = codes.numpy()
        return self._cache[key]

    @property
    def split_name(self) -> str:
        return self.options.get("split", "test")

    def subset(self) -> np.ndarray:
        """Indices of at most ``max_points`` images of the split (a seeded, sorted sample)."""
        n = len(self.split())
        if n <= self.max_points:
            return np.arange(n)
        rng = np.random.default_rng(self.seed)
        return np.sort(rng.choice(n, self.max_points, replace=False))

    def reconstructions(self) -> torch.Tensor:
        if not has_decoder(self.model):
            raise NotApplicable("the model has no decoder")
        if "rec" not in self._cache:
            self._cache["rec"] = reconstruct(self.model, self.split(), self.batch_size)
        return self._cache["rec"]


def has_decoder(model) -> bool:
    """Whether the model overrides ``RepresentationModel.decode`` (autoencoders do)."""
    from reprlab.models.base import RepresentationModel

    decode = getattr(type(model), "decode", None)
    return decode is not None and decode is not RepresentationModel.decode


@torch.no_grad()
def has_posterior(model, split) -> bool:
    """Whether the model's code has a log-variance (a VAE's Gaussian posterior)."""
    model.eval()
    return model.encode(split.images[:2].float() / 255).logvar is not None


def _probe(name: str, inputs: str = "codes"):
    """A probe metric on ``inputs``: ``codes`` (sampled if the ``sample`` option is set),
    ``sampled`` (posterior samples, seed 000) or ``pixels`` (the raw images, seed 001's
    reference classifier)."""

    def metric(ctx: EvalContext) -> dict:
        from reprlab.evaluate.probes import PROBES

        if inputs == "pixels":
            train, test = (
                ctx.split(s).images.reshape(len(ctx.split(s)), -1).float().div(255).numpy()
                for s in ("train", None)
            )
        else:
            sample = ctx.sample if inputs == "codes" else True
            if sample and not has_posterior(ctx.model, ctx.split()):
                raise NotApplicable("the model has no posterior to sample codes from")
            train = ctx.codes("train", sample)
            test = ctx.codes(None, sample)
        probe = PROBES[name]
        kwargs = {"seed": ctx.seed} if "seed" in inspect.signature(probe).parameters else {}
        return probe(
            train, ctx.dataset.train.labels.numpy(), test, ctx.split().labels.numpy(),
            num_classes=ctx.dataset.num_classes, **kwargs,
        )  # fmt: skip

    return metric


def probe_logistic(ctx):
    """linear probe: logistic regression on train codes, accuracy and cross-entropy on test"""
    return _probe("logistic")(ctx)


def probe_mlp(ctx):
    """MLP probe (one hidden layer, early stopping) on train codes, scored on test codes"""
    return _probe("mlp")(ctx)


def probe_mlp_sampled(ctx):
    """MLP probe on sampled posterior codes z ~ q(z|x) (seed 000's classifier), VAEs only"""
    return _probe("mlp", "sampled")(ctx)


def probe_pixels(ctx):
    """reference: the MLP probe on raw pixels instead of codes (seed 001's image classifier)"""
    return _probe("mlp", "pixels")(ctx)


def probe_knn(ctx):
    """10-nearest-neighbour classifier on train codes, scored on test codes"""
    return _probe("knn")(ctx)


def probe_forest(ctx):
    """random forest (200 trees, depth 30; seed 001) on train codes (slow on big sets)"""
    return _probe("forest")(ctx)


def probe_boosting(ctx):
    """gradient boosting (CatBoost if installed, else HistGradientBoosting) on train codes"""
    return _probe("boosting")(ctx)


def neighbours(ctx):
    """score@k (L1, L2, per label) and label agreement of input vs code neighbours (seed 004)"""
    from reprlab.evaluate.knn import knn
    from reprlab.evaluate.neighbours import input_neighbours, neighbourhood_scores

    rows = ctx.subset()
    images = ctx.split().images[torch.as_tensor(rows)]
    labels = ctx.split().labels.numpy()[rows]
    codes = ctx.codes()[rows]
    k = max(ctx.ks)
    out = {}
    for metric in ("l1", "l2"):
        nx = input_neighbours(images, ctx.dataset.name, ctx.split_name, k, metric)
        _, nz = knn(codes, k, metric)
        out[metric] = neighbourhood_scores(nx.numpy(), nz.numpy(), labels, tuple(ctx.ks))
    return out


def trustworthiness(ctx):
    """trustworthiness and continuity (Venna & Kaski 2001) of codes vs images, L2"""
    from reprlab.evaluate.neighbours import continuity
    from reprlab.evaluate.neighbours import trustworthiness as trust

    rows = ctx.subset()
    images = ctx.split().images[torch.as_tensor(rows)].reshape(len(rows), -1).double() / 255
    codes = ctx.codes()[rows]
    k = ctx.trust_k
    return {"trustworthiness": trust(images, codes, k), "continuity": continuity(images, codes, k)}


def clustering(ctx):
    """k-means on codes (one cluster per class): Hungarian accuracy, NMI, AMI"""
    from reprlab.evaluate.clustering import kmeans_scores

    return kmeans_scores(ctx.codes(), ctx.split().labels.numpy(), seed=ctx.seed)


def retrieval(ctx):
    """precision@1, R-precision and MAP@R of codes (pytorch-metric-learning's definitions)"""
    from reprlab.evaluate.retrieval import retrieval_scores

    rows = ctx.subset()
    return retrieval_scores(ctx.codes()[rows], ctx.split().labels.numpy()[rows])


def reconstruction(ctx):
    """reconstruction MSE and PSNR (dB) on the split, images in [0, 1]"""
    from reprlab.evaluate.reconstruction import reconstruction_scores

    images = ctx.split().images.float() / 255
    return reconstruction_scores(images.numpy(), ctx.reconstructions().numpy())


@torch.no_grad()
def elbo(ctx):
    """ELBO (nats per image) and bits per dimension of a VAE with a normalised likelihood"""
    from reprlab.evaluate.reconstruction import elbo_scores

    model, split = ctx.model, ctx.split()
    model.eval()
    torch.manual_seed(ctx.seed)
    values = []
    for start in range(0, len(split), ctx.batch_size):
        x = split.images[start : start + ctx.batch_size].float() / 255
        y = split.labels[start : start + ctx.batch_size]
        terms = model.loss((x, y)).terms
        if "elbo" not in terms:
            raise NotApplicable("the model reports no 'elbo' term (not a VAE with a likelihood)")
        values.append(float(terms["elbo"]) * len(x))
    per_image = -np.array([sum(values) / len(split)])
    return elbo_scores(per_image, int(np.prod(ctx.dataset.image_shape)))


@torch.no_grad()
def prior_samples(model, image_shape, n: int, seed: int) -> torch.Tensor:
    """``n`` images decoded from the prior ``N(0, I)`` of a Gaussian-posterior model (one with
    a ``logvar``), clamped to [0, 1]."""
    shape_probe = model.encode(torch.zeros(1, *image_shape))
    if shape_probe.logvar is None:
        raise NotApplicable("the model has no Gaussian prior to sample")
    generator = torch.Generator().manual_seed(seed)
    z = torch.randn(n, *shape_probe.mean.shape[1:], generator=generator)
    parts = [model.decode(z[s : s + 500]) for s in range(0, n, 500)]
    return torch.cat(parts).clamp(0, 1)


def fid(ctx):
    """FID of reconstructions and of prior samples against the split, in domain-CNN features"""
    from reprlab.evaluate.fid import domain_classifier
    from reprlab.evaluate.fid import fid as frechet

    extractor, info = domain_classifier(ctx.dataset, ctx.seed, ctx.fid_epochs, ctx.fid_min_steps)
    real = ctx.split().images
    out = {"reconstruction": frechet(extractor, real, ctx.reconstructions().clamp(0, 1)), **info}
    ctx.model.eval()
    try:
        n = min(ctx.prior_samples, len(real))
        out["prior"] = frechet(
            extractor, real, prior_samples(ctx.model, ctx.dataset.image_shape, n, ctx.seed)
        )
    except NotApplicable as reason:
        out["prior_skipped"] = str(reason)
    return out


def metric_accuracy(ctx):
    """seed 003's simple, Magnet, RepMet, batch and k-means accuracies of an embedder"""
    from reprlab.evaluate.metric_accuracy import metric_accuracies

    return metric_accuracies(ctx.model, ctx.dataset, seed=ctx.seed)


METRICS = {
    "probe-logistic": probe_logistic,
    "probe-mlp": probe_mlp,
    "probe-mlp-sampled": probe_mlp_sampled,
    "probe-pixels": probe_pixels,
    "probe-knn": probe_knn,
    "probe-forest": probe_forest,
    "probe-boosting": probe_boosting,
    "neighbours": neighbours,
    "trustworthiness": trustworthiness,
    "clustering": clustering,
    "retrieval": retrieval,
    "reconstruction": reconstruction,
    "elbo": elbo,
    "fid": fid,
    "metric-accuracy": metric_accuracy,
}
# what evaluate computes when no names are given (the slow tree probes and seed 003's
# cluster accuracies are asked for by name)
DEFAULT_METRICS = [
    "probe-logistic", "probe-mlp", "probe-knn", "neighbours", "trustworthiness", "clustering",
    "retrieval", "reconstruction", "elbo", "fid",
]  # fmt: skip


def describe(name: str) -> str:
    """The one-line description of a metric."""
    return (METRICS[name].__doc__ or "").strip().splitlines()[0]


def check_options(options: dict | None) -> dict:
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(
            f"unknown evaluation option(s) {', '.join(unknown)}; valid: {', '.join(OPTIONS)}"
        )
    return options


def _progress(enabled: bool | None):
    """A rich progress bar over metrics; silent off a terminal or when CI is set."""
    import os
    import sys

    from rich.progress import Progress

    if enabled is None:
        enabled = sys.stdout.isatty() and not os.environ.get("CI")
    return Progress(transient=True, disable=not enabled)


def evaluate_loaded(
    model, dataset, metrics=None, options=None, run_dir=None, progress: bool | None = None
) -> dict:
    """The named metrics (``DEFAULT_METRICS`` when ``None``) of a model on a data set:
    ``{name: {...}, "skipped": {name: reason}}``. ``progress`` shows a bar (default: on a
    terminal, unless the environment variable CI is set)."""
    names = list(DEFAULT_METRICS if metrics is None else metrics)
    functions = {name: lookup(METRICS, name, "metric") for name in names}
    options = check_options(options)
    if options.get("split", "test") not in dataset.splits:
        raise ConfigError(
            f"split {options['split']!r} absent; the data has {', '.join(dataset.splits)}"
        )
    ctx = EvalContext(model, dataset, options, run_dir)
    results: dict = {}
    skipped: dict = {}
    with _progress(progress) as bar:
        task = bar.add_task("evaluating", total=len(functions))
        for name, function in functions.items():
            bar.update(task, description=f"evaluating {name}")
            try:
                results[name] = function(ctx)
            except NotApplicable as reason:
                skipped[name] = str(reason)
            bar.advance(task)
    if skipped:
        results["skipped"] = skipped
    return results


def evaluate(run_dir, metrics=None, figures=(), options=None, progress=None) -> dict:
    """Evaluate the trained run in ``run_dir``: compute ``metrics`` (names in ``METRICS``;
    ``None`` means ``DEFAULT_METRICS``), merge them into ``run_dir/metrics.json`` (written
    atomically; earlier entries of other metrics are kept), draw ``figures`` (names in
    ``reprlab.viz.FIGURES``) into ``run_dir/figures/``, and return the merged metrics.
    Figures that do not apply (prior samples of a plain autoencoder) are skipped."""
    from reprlab.train import load_run

    run_dir = Path(run_dir)
    if metrics is not None:
        for name in metrics:
            lookup(METRICS, name, "metric")
    if figures:
        from reprlab.viz import FIGURES

        for name in figures:
            lookup(FIGURES, name, "figure")
    options = check_options(options)
    loaded = load_run(run_dir)
    new = evaluate_loaded(loaded.model, loaded.dataset, metrics, options, run_dir, progress)
    path = run_dir / "metrics.json"
    merged = json.loads(path.read_text()) if path.is_file() else {}
    skipped = {**merged.pop("skipped", {}), **new.pop("skipped", {})}
    for name in new:
        skipped.pop(name, None)
    merged.update(new)
    if skipped:
        merged["skipped"] = skipped
    write_json(path, merged)
    if figures:
        from reprlab.viz import draw_figures

        draw_figures(run_dir, loaded.model, loaded.dataset, figures, options)
    return merged
