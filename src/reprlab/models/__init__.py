"""Representation models sharing one interface (``RepresentationModel``): ``encode(x) -> Code``,
``embed(x, sample=False) -> [N, D]``, ``decode(z)`` for autoencoders, and
``loss(batch) -> LossOutput(total, terms)``. Inputs are NCHW images in [0, 1].

Families (``MODELS``): ``ae``, ``dae``, ``sparse-l1``, ``sparse-kl``, ``vae``, ``vqvae``, on the
``mlp`` or ``conv`` architecture, with any reconstruction objective of
``reprlab.models.reconstruction``; and ``embedder`` (``reprlab.metric.model.MetricEmbedder``), an
``mlp``, ``conv`` or ``resnet18`` embedding network trained with the metric-learning objective
``model.metric.objective`` (``magnet``, ``repmet``, ``triplet`` or ``proxy-anchor``), e.g.
``ModelConfig(name="embedder", arch="mlp", metric={"objective": "magnet"})``.

Adding a model family
---------------------
1. Write a ``RepresentationModel`` subclass: ``encode``, ``embed``, ``loss(batch)`` where
   ``batch`` is what the training loader yields (``(x, y)`` for ``reprlab.data.BatchLoader``).
   ``LossOutput.terms`` holds detached scalars; they become the columns of
   ``logs/metrics.csv``.
2. Register a builder ``MODELS["name"] = fn(model_config: ModelConfig, dataset)``. Parameters
   the family needs go in a typed section of ``ModelConfig`` (``noise``, ``sparsity``, ``vae``,
   ``vq``, ``metric``), so configs stay validated with ``extra='forbid'``. Metric learners read
   ``model_config.metric`` (``MetricConfig``: objective, K, M, D, refresh interval, alpha,
   embedding dim, ...). A builder whose module imports ``reprlab.models`` imports it inside
   the builder (as ``MODELS["embedder"]`` does with ``reprlab.metric.model.build_embedder``),
   so there is no import cycle.
3. Optional hooks, found by ``reprlab.train.fit`` with ``getattr``:
   ``train_loader(dataset, run_config)`` returns the training batches (an object with
   ``epoch(e)``, ``len()``, and ``state_dict()``/``load_state_dict()`` if it has state), and
   ``training_callbacks(dataset, run_config)`` returns ``reprlab.train.Callback`` objects
   (called after ``train_loader``).
"""

from reprlab.models.base import Code, LossOutput, RepresentationModel
from reprlab.models.build import MODELS, build_model
from reprlab.models.config import (
    MetricConfig,
    ModelConfig,
    NoiseConfig,
    SparsityConfig,
    VAEConfig,
    VQConfig,
)

__all__ = [
    "MODELS",
    "Code",
    "LossOutput",
    "MetricConfig",
    "ModelConfig",
    "NoiseConfig",
    "RepresentationModel",
    "SparsityConfig",
    "VAEConfig",
    "VQConfig",
    "build_model",
]
