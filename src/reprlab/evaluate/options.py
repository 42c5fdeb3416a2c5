"""The evaluation options: ``OPTIONS`` maps each name to ``(default, help)``;
``resolve_options`` checks a mapping against it and fills in the defaults."""

from reprlab.errors import ConfigError

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
    "fid_data": (None, "data set the FID classifier trains on, resized (None: the evaluated one)"),
    "prior_samples": (10000, "prior samples for FID (at most the split's size)"),
    "projection": ("auto", "figures: 2-D projection, auto (UMAP if installed, else t-SNE), pca"),
    "trim": (0.05, "figures: fraction of outlying codes left off the MDS sphere"),
}


def check_options(options: dict | None) -> dict:
    """A copy of ``options``; an unknown name is a ``ConfigError`` listing the valid ones."""
    options = dict(options or {})
    unknown = sorted(set(options) - set(OPTIONS))
    if unknown:
        raise ConfigError(
            f"unknown evaluation option(s) {', '.join(unknown)}; valid: {', '.join(OPTIONS)}"
        )
    return options


def resolve_options(options: dict | None) -> dict:
    """Every option: the given values over the defaults."""
    return {name: default for name, (default, _) in OPTIONS.items()} | check_options(options)
