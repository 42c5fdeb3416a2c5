"""What every metric and figure adapter reads: the model, the data set, the resolved options
and the run folder, with the codes and reconstructions of a split computed once and cached.

A model's capabilities come from its class flags (``has_decoder``, ``has_posterior``,
``has_prior`` on ``RepresentationModel``); ``require`` turns a missing one into
``NotApplicable``, which the orchestrator lists under ``skipped`` with its reason.
"""

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch

from reprlab.errors import ConfigError
from reprlab.evaluate.embed import decode_prior, embed, model_device, reconstruct
from reprlab.evaluate.options import OPTIONS, resolve_options
from reprlab.rundir import RunDir

# capability flag -> why a metric that needs it does not apply
MISSING = {
    "has_decoder": "the model has no decoder",
    "has_posterior": "the model has no posterior q(z|x)",
    "has_prior": "the model has no prior p(z)",
}


class NotApplicable(Exception):
    """The metric or figure does not apply to this model or run; the message says why."""


@dataclass
class EvalContext:
    """A loaded model and data set under the evaluation ``options``, checked (unknown names,
    a split the data set lacks) with the defaults filled in; each option reads as an
    attribute (``ctx.seed``)."""

    model: Any
    dataset: Any
    options: dict | None = None
    run_dir: RunDir | None = None
    _cache: dict = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self.options = resolve_options(self.options)
        if self.split_name not in self.dataset.splits:
            raise ConfigError(
                f"split {self.split_name!r} absent; the data has {', '.join(self.dataset.splits)}"
            )
        if self.run_dir is not None:
            self.run_dir = RunDir(self.run_dir)

    def __getattr__(self, name):
        if name in OPTIONS:
            return self.options[name]
        raise AttributeError(name)

    @property
    def device(self) -> torch.device:
        """The device of the model's weights (the CPU for a model without any), where
        embeddings, reconstructions and FID features are computed."""
        return model_device(self.model)

    def require(self, capability: str) -> None:
        """``NotApplicable`` unless the model's class declares ``capability`` (a flag)."""
        if not getattr(type(self.model), capability, False):
            raise NotApplicable(MISSING[capability])

    @property
    def split_name(self) -> str:
        """The ``split`` option (``ctx.split`` is the method below)."""
        return self.options["split"]

    def split(self, name: str | None = None):
        """The split ``name`` (default: the ``split`` option)."""
        return self.dataset.splits[name or self.split_name]

    def codes(self, name: str | None = None, sample: bool = False) -> np.ndarray:
        """Codes of a whole split (posterior samples when ``sample``), cached."""
        key = ("codes", name or self.split_name, sample)
        if key not in self._cache:
            if sample:
                self.require("has_posterior")
            codes = embed(self.model, self.split(name), self.batch_size, sample, self.seed)
            self._cache[key] = codes.numpy()
        return self._cache[key]

    def rows(self, limit: int) -> np.ndarray:
        """Indices of at most ``limit`` images of the split (a seeded, sorted sample)."""
        n = len(self.split())
        if n <= limit:
            return np.arange(n)
        return np.sort(np.random.default_rng(self.seed).choice(n, limit, replace=False))

    def subset(self) -> np.ndarray:
        """``rows(max_points)``: the images neighbourhood metrics use."""
        return self.rows(self.max_points)

    def reconstructions(self) -> torch.Tensor:
        """``decode(encode(x))`` of the whole split, cached."""
        self.require("has_decoder")
        if "rec" not in self._cache:
            self._cache["rec"] = reconstruct(self.model, self.split(), self.batch_size)
        return self._cache["rec"]

    def prior_images(self, n: int) -> torch.Tensor:
        """``n`` images decoded from prior samples (seeded by the ``seed`` option)."""
        self.require("has_prior")
        self.require("has_decoder")
        return decode_prior(self.model, n, self.seed, self.batch_size)
