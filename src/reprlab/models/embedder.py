"""The ``embedder`` family (seed 003): an embedding network (`reprlab.models.embedder_backbones`)
trained by one metric-learning objective (magnet | repmet | triplet | proxy-anchor) of
`reprlab.metric_learning`, with its own batches and training callbacks.

Magnet, RepMet and My Loss train on the same Magnet batches (`MagnetBatchLoader`: M clusters
of D examples, seed 003) with a cluster index refreshed every ``refresh_every`` steps; triplet
and proxy-anchor train on class-balanced batches (``samples_per_class`` examples of each class
drawn, pytorch-metric-learning's m-per-class layout). The representatives of RepMet and My
Loss start at per-class k-means centres when ``seed_representatives`` is set.

In a run the architecture is ``model.arch`` (mlp, conv or resnet18) and everything else is the
``model.metric`` section (`MetricConfig`; `EmbedderConfig` adds the ``backbone``). ``fit``
finds the ``train_loader`` and ``training_callbacks`` hooks; their states are checkpointed.
"""

from collections.abc import Mapping
from typing import Any

import torch
from pydantic import BaseModel
from torch import Tensor, nn

from reprlab.data import BatchLoader
from reprlab.data.device import resolve_device
from reprlab.errors import ConfigError
from reprlab.metric_learning.callbacks import ClusterRefresh, SeedRepresentatives
from reprlab.metric_learning.classify import batch_accuracy, simple_accuracy
from reprlab.metric_learning.clusters import embed_images, per_class_kmeans
from reprlab.metric_learning.distributed import whole_batch, world_size
from reprlab.metric_learning.objectives import (
    MagnetObjective,
    MyLossObjective,
    ProxyAnchorObjective,
    RepMetObjective,
    TripletObjective,
)
from reprlab.metric_learning.sampler import MagnetBatchLoader, MagnetBatchSampler
from reprlab.models.base import Code, LossOutput, RepresentationModel
from reprlab.models.config import ModelConfig, validate_section
from reprlab.models.embedder_backbones import ConvEmbedder, MLPEmbedder, ResNet18Embedder
from reprlab.models.embedder_config import EmbedderConfig

#: objectives trained on Magnet batches of M clusters x D examples (seed 003)
CLUSTER_BATCHES = ("magnet", "repmet", "my-loss")
#: objectives with learnable representatives (``objective.loss.representatives``)
REPRESENTATIVES = ("repmet", "my-loss")


def _backbone(cfg: EmbedderConfig, image_shape: tuple[int, int, int]) -> nn.Module:
    if cfg.backbone == "mlp":
        return MLPEmbedder(image_shape, cfg.embedding_dim, cfg.hidden)
    if cfg.backbone == "conv":
        return ConvEmbedder(image_shape, cfg.embedding_dim, cfg.channels)
    return ResNet18Embedder(image_shape, cfg.embedding_dim, cfg.pretrained, cfg.download)


def _objective(cfg: EmbedderConfig, num_classes: int, seed: int) -> nn.Module:
    if cfg.objective == "magnet":
        return MagnetObjective(cfg.alpha, cfg.variance)
    if cfg.objective == "repmet":
        return RepMetObjective(
            num_classes,
            cfg.clusters_per_class,
            cfg.embedding_dim,
            cfg.repmet_version,
            cfg.sigma,
            cfg.alpha,
            seed,
        )
    if cfg.objective == "my-loss":
        return MyLossObjective(
            num_classes, cfg.clusters_per_class, cfg.embedding_dim, cfg.alpha, seed
        )
    if cfg.objective == "triplet":
        return TripletObjective(0.2 if cfg.margin is None else cfg.margin)
    margin = 0.1 if cfg.margin is None else cfg.margin
    return ProxyAnchorObjective(
        num_classes, cfg.embedding_dim, margin, cfg.proxy_alpha, seed, cfg.proxy_lr_scale
    )


class MetricEmbedder(RepresentationModel):
    """An embedding network and its metric-learning objective.

    ``loss(batch)`` takes ``(x, y)`` or ``(x, y, clusters)`` and reports the objective (as
    ``total``) and the batch accuracy (a term); per-example losses of the last batch stay in
    ``last_example_losses``. Without cluster ids (validation batches of ``fit``) each class is
    one cluster. ``seed`` is ``cfg.seed``, or when that is None one draw from
    torch's global RNG (which ``reprlab.train`` seeds with ``train.seed``, so runs of different
    seeds differ); it seeds the weights, the objective's parameters and the batches.
    """

    def __init__(self, cfg: EmbedderConfig, image_shape: tuple[int, int, int], num_classes: int):
        super().__init__()
        if cfg.seed is None:
            self.seed = int(torch.randint(0, 2**31 - 1, ()).item())
        else:
            self.seed = cfg.seed
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.seed)
            self.backbone = _backbone(cfg, tuple(image_shape))
        self.objective = _objective(cfg, num_classes, self.seed)
        self.cfg, self.num_classes = cfg, num_classes
        self.clusters_per_class = cfg.clusters_per_class
        self.clusters_per_batch = cfg.clusters_per_batch
        self.samples_per_cluster = cfg.samples_per_cluster
        self.last_example_losses: Tensor | None = None
        self._magnet_loader: MagnetBatchLoader | None = None

    def embed(self, x: Tensor, sample: bool = False) -> Tensor:
        return self.backbone(x)

    def encode(self, x: Tensor) -> Code:
        return Code(z=self.backbone(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.backbone(x)

    def loss(self, batch) -> LossOutput:
        x, y, *rest = batch
        clusters = rest[0] if rest else None
        embeddings = self.backbone(x)
        if world_size() > 1:  # the whole global batch's loss (metric_learning.distributed)
            embeddings, y = whole_batch(embeddings), whole_batch(y)
            clusters = None if clusters is None else whole_batch(clusters)
        total, per_example = self.objective(embeddings, y, clusters)
        self.last_example_losses = None if per_example is None else per_example.detach()
        with torch.no_grad():
            reps = getattr(self.objective, "loss", None)
            if self.cfg.objective in REPRESENTATIVES:  # nearest representative's class
                accuracy = simple_accuracy(embeddings, y, reps.representatives, reps.rep_labels)
            else:
                accuracy = batch_accuracy(embeddings, y, clusters)
        terms = {"batch_accuracy": torch.tensor(accuracy, dtype=torch.float32)}
        return LossOutput(total=total, terms=terms)

    def train_loader(self, dataset, config, device="cpu"):
        """Magnet batches for Magnet, RepMet and My Loss (M * D examples each,
        ``train.batch_size`` unused, ``steps_per_epoch`` per epoch; the first index comes from
        the model as it is, its codes computed on ``device``, where the model is moved);
        class-balanced `BatchLoader` batches of ``train.batch_size`` otherwise (dropping the
        last incomplete one). Batches come on ``device`` (``fit`` passes its own; a device
        this machine lacks is a `ConfigError`), from the split held there when it fits."""
        train = dataset.train
        cfg = self.cfg
        device = resolve_device(device)
        if cfg.objective in CLUSTER_BATCHES:
            codes = embed_images(self, train.images, device=device)
            index = per_class_kmeans(codes, train.labels, cfg.clusters_per_class, self.seed)
            sampler = MagnetBatchSampler(index, cfg.clusters_per_batch, cfg.samples_per_cluster)
            self._magnet_loader = MagnetBatchLoader(
                train, sampler, seed=self.seed, steps_per_epoch=cfg.steps_per_epoch, device=device
            )
            return self._magnet_loader
        batch_size, per_class = config.train.batch_size, cfg.samples_per_class
        if batch_size % per_class or batch_size // per_class > dataset.num_classes:
            raise ConfigError(
                f"{cfg.objective} trains on class-balanced batches: train.batch_size "
                f"(--batch-size) {batch_size} must be a multiple of metric.samples_per_class "
                f"(--samples-per-class) {per_class} and at most {per_class} x "
                f"{dataset.num_classes} classes = {per_class * dataset.num_classes}"
            )
        return BatchLoader(
            train,
            batch_size,
            shuffle=True,
            seed=self.seed,
            drop_last=True,
            samples_per_class=cfg.samples_per_class,
            device=device,
        )

    def training_callbacks(self, dataset, config) -> list:
        """RepMet and My Loss: k-means seeding of the representatives; cluster batches: the
        cluster refresh."""
        cfg = self.cfg
        callbacks: list = []
        if cfg.objective in REPRESENTATIVES and cfg.seed_representatives:
            train = dataset.train
            callbacks.append(
                SeedRepresentatives(
                    self, self.objective.loss, train.images, train.labels, self.seed
                )
            )
        if cfg.objective in CLUSTER_BATCHES:
            if self._magnet_loader is None:
                self.train_loader(dataset, config, next(self.parameters()).device)
            callbacks.append(
                ClusterRefresh(
                    self, self._magnet_loader, cfg.clusters_per_class, cfg.refresh_every, self.seed
                )
            )
        return callbacks


def build_embedder(model_config: Mapping[str, Any] | BaseModel, dataset) -> MetricEmbedder:
    """A `MetricEmbedder` for ``dataset`` (``image_shape``, ``num_classes``).

    ``model_config`` is a `reprlab.models.ModelConfig` (its ``arch`` is the backbone and its
    ``metric`` section the rest), or the fields of `EmbedderConfig` as a mapping or model (a
    ``name`` key is ignored). A bad value is a `ConfigError` naming the key.
    """
    if isinstance(model_config, ModelConfig):
        raw = {**model_config.metric.model_dump(), "backbone": model_config.arch}
    elif isinstance(model_config, BaseModel):
        raw = model_config.model_dump()
    else:
        raw = dict(model_config)
    raw.pop("name", None)
    cfg = validate_section(EmbedderConfig, raw, "embedder")
    return MetricEmbedder(cfg, dataset.image_shape, dataset.num_classes)
