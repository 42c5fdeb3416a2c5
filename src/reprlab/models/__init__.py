"""Representation models sharing one interface (``RepresentationModel``): ``encode(x) -> Code``,
``embed(x, sample=False) -> [N, D]``, ``decode(z)`` for autoencoders, and
``loss(batch) -> LossOutput(total, terms)``. Inputs are NCHW images in [0, 1].

Families (``MODELS``): ``ae``, ``dae``, ``sparse-l1``, ``sparse-kl``, ``vae``, ``vqvae``, on the
``mlp`` or ``conv`` architecture, with any reconstruction objective of
``reprlab.models.reconstruction``; and ``embedder`` (``reprlab.models.embedder.MetricEmbedder``),
an ``mlp``, ``conv`` or ``resnet18`` embedding network trained with the metric-learning
objective ``model.metric.objective`` (``magnet``, ``repmet``, ``triplet`` or ``proxy-anchor``,
from ``reprlab.metric_learning``), e.g.
``ModelConfig(name="embedder", arch="mlp", metric={"objective": "magnet"})``.

Adding a model family
---------------------
1. Write a ``RepresentationModel`` subclass in its own module: ``encode``, ``embed``,
   ``loss(batch)`` where ``batch`` is what the training loader yields (``(x, y)`` for
   ``reprlab.data.BatchLoader``). ``LossOutput.terms`` holds detached scalars; they become the
   columns of ``logs/metrics.csv``. Declare what it can do with the class flags
   ``has_decoder``, ``has_posterior`` and ``has_prior`` (with ``sample_prior``).
2. Parameters the family needs go in a typed section defined beside it
   (``<family>_config.py``, as ``vae_config.VAEConfig``) and composed into ``ModelConfig``
   (``noise``, ``sparsity``, ``vae``, ``vq``, ``metric``), so configs stay validated with
   ``extra='forbid'``.
3. Add its name to ``FAMILIES`` (``config.py``) and its builder
   ``fn(model_config: ModelConfig, dataset)`` to ``MODELS`` (``build.py``).
4. Optional hooks, found by ``reprlab.train.fit`` with ``getattr``:
   ``train_loader(dataset, run_config)`` returns the training batches (an object with
   ``epoch(e)``, ``len()``, and ``state_dict()``/``load_state_dict()`` if it has state; a
   hook with a ``device`` parameter is given the run's device, where its batches should be),
   and ``training_callbacks(dataset, run_config)`` returns ``reprlab.callbacks.Callback``
   objects (called after ``train_loader``).

``reprlab.models`` imports nothing above it (never ``train``, ``evaluate`` or ``study``).
"""

from reprlab.models.base import Code, LossOutput, RepresentationModel
from reprlab.models.build import MODELS, build_model
from reprlab.models.config import (
    FAMILIES,
    MetricConfig,
    ModelConfig,
    NoiseConfig,
    SparsityConfig,
    VAEConfig,
    VQConfig,
)

__all__ = [
    "FAMILIES",
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
