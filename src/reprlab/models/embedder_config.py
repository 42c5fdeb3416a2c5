"""Config of the ``embedder`` family (`reprlab.models.embedder`): a run's ``model.metric``
section, and `EmbedderConfig`, that section plus the backbone."""

from typing import Literal

from pydantic import BaseModel, Field


class MetricConfig(BaseModel, extra="forbid"):
    """The ``embedder`` family: an embedding network trained by a metric-learning objective
    (Magnet, RepMet, triplet, proxy-anchor; seed 003), the section ``model.metric``.

    The backbone is ``model.arch`` (mlp, conv or resnet18). K = ``clusters_per_class``,
    M = ``clusters_per_batch``, D = ``samples_per_cluster`` (seed 003: K=3, M=12, D=4 and a
    1 024-dimensional ResNet-18 embedding). Magnet, RepMet and My Loss train on the same
    batches of M clusters x D examples (seed 003); triplet and proxy-anchor on class-balanced
    batches of ``samples_per_class`` examples per class.
    """

    objective: Literal["magnet", "repmet", "my-loss", "triplet", "proxy-anchor"] = Field(
        "magnet",
        description="the objective (Magnet: Rippel et al. 2016; RepMet: Karlinsky et al. 2019; "
        "my-loss: seed 003's own; batch-hard triplet margin and proxy-anchor: "
        "pytorch-metric-learning)",
    )
    embedding_dim: int = Field(64, ge=1, description="embedding size")
    hidden: tuple[int, ...] = Field((256, 256), description="mlp backbone widths")
    channels: tuple[int, ...] = Field((32, 64, 128), description="conv backbone widths")
    pretrained: bool = Field(True, description="resnet18: ImageNet weights (else random init)")
    download: bool = Field(False, description="resnet18: download the weights if not cached")
    clusters_per_class: int = Field(3, ge=1, description="K: k-means clusters per class")
    clusters_per_batch: int = Field(12, ge=2, description="M: clusters in a Magnet batch")
    samples_per_cluster: int = Field(4, ge=1, description="D: examples per cluster in a batch")
    refresh_every: int = Field(100, ge=0, description="steps between k-means refreshes; 0 never")
    steps_per_epoch: int | None = Field(
        None, ge=1, description="cluster batches per epoch; None: enough to cover train once"
    )
    alpha: float = Field(1.0, description="Magnet's and RepMet's margin alpha")
    variance: Literal["paper", "tf-reference"] = Field(
        "paper",
        description="magnet: the variance term (paper: 2 sigma^2; tf-reference: 2 sigma^4, "
        "the public TensorFlow code)",
    )
    repmet_version: Literal[1, 2, "hinge"] = Field(
        1,
        description="repmet: the loss (1: nearest same-class representative; 2: all of them; "
        "hinge: the authors' code)",
    )
    sigma: float = Field(0.5, gt=0, description="RepMet's sigma")
    seed_representatives: bool = Field(True, description="RepMet: start at k-means centres")
    margin: float | None = Field(None, description="triplet (0.2) or proxy-anchor (0.1) margin")
    proxy_alpha: float = Field(32.0, description="proxy-anchor's scale alpha")
    proxy_lr_scale: float = Field(
        100.0, gt=0, description="proxy-anchor: the proxies' learning rate over the model's"
    )
    samples_per_class: int = Field(
        4, ge=1, description="class-balanced batches of triplet and proxy-anchor"
    )
    seed: int | None = Field(None, description="None: derived from the run's seed")


class EmbedderConfig(MetricConfig):
    """A run's ``model.metric`` section plus the ``backbone`` (a run's ``model.arch``); seed
    003's defaults: M=12, D=4, K=3. ``seed`` None: drawn from torch's global RNG."""

    backbone: Literal["mlp", "conv", "resnet18"] = "mlp"
