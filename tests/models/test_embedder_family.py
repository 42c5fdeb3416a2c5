"""The ``embedder`` family: metric learners built from ``ModelConfig`` through ``MODELS``."""

import pytest
import torch

from reprlab.errors import ConfigError
from reprlab.metric_learning.objectives import (
    MagnetObjective,
    ProxyAnchorObjective,
    RepMetObjective,
    TripletObjective,
)
from reprlab.models import MODELS, ModelConfig, build_model
from reprlab.models.build import as_model_config
from reprlab.models.embedder_backbones import ConvEmbedder, MLPEmbedder, ResNet18Embedder


class Digits:
    image_shape, num_classes = (1, 8, 8), 10


OBJECTIVES = {
    "magnet": MagnetObjective,
    "repmet": RepMetObjective,
    "triplet": TripletObjective,
    "proxy-anchor": ProxyAnchorObjective,
}


@pytest.mark.parametrize("arch, backbone", [("mlp", MLPEmbedder), ("conv", ConvEmbedder)])
@pytest.mark.parametrize("objective", list(OBJECTIVES))
def test_model_config_builds_each_objective_on_each_backbone(
    objective, arch, backbone, digits_batch
):
    cfg = ModelConfig(
        name="embedder",
        arch=arch,
        metric={"objective": objective, "embedding_dim": 8, "hidden": [32], "channels": [8]},
    )
    model = build_model(cfg, Digits())
    assert isinstance(model.backbone, backbone) and isinstance(
        model.objective, OBJECTIVES[objective]
    )
    x, y = digits_batch[:32], torch.arange(32) % 4
    assert model.embed(x).shape == (32, 8)
    out = model.loss((x, y, y) if objective == "magnet" else (x, y))
    assert torch.isfinite(out.total) and out.total.requires_grad
    # fit logs ``total`` as the loss itself: a "loss" term would be counted twice
    assert set(out.terms) == {"batch_accuracy"}
    assert 0 <= float(out.terms["batch_accuracy"]) <= 1


def test_resnet18_backbone_with_random_init(tmp_path, monkeypatch):
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path))
    cfg = ModelConfig(name="embedder", arch="resnet18", metric={"embedding_dim": 1024})
    with pytest.raises(ConfigError, match="--no-pretrained"):
        build_model(cfg, Digits())
    cfg.metric.pretrained = False
    model = build_model(cfg, Digits())
    assert isinstance(model.backbone, ResNet18Embedder)
    assert model.embed(torch.rand(2, 1, 8, 8)).shape == (2, 1024)


def test_seed_follows_the_global_rng_unless_the_config_fixes_it():
    cfg = ModelConfig(name="embedder", metric={"objective": "proxy-anchor"})

    def state(seed, config=cfg):
        torch.manual_seed(seed)
        return build_model(config, Digits()).state_dict()

    def same(a, b):
        return all(torch.equal(a[k], b[k]) for k in a)

    assert same(state(0), state(0))
    assert not same(state(0), state(1))  # runs of different train.seed differ
    fixed = cfg.model_copy(update={"metric": cfg.metric.model_copy(update={"seed": 7})})
    assert same(state(0, fixed), state(1, fixed))


def test_family_config_is_validated_and_round_trips():
    assert "embedder" in MODELS
    cfg = ModelConfig(name="embedder", arch="conv", metric={"objective": "triplet"})
    again = ModelConfig.model_validate(cfg.model_dump(mode="json"))  # as config.yaml does
    assert again == cfg
    with pytest.raises(ConfigError, match=r"'arch'.*'resnet18'.*'mlp' or 'conv'"):
        as_model_config({"name": "vae", "arch": "resnet18"})
    with pytest.raises(ConfigError, match=r"metric.embedding_dim"):
        as_model_config({"name": "embedder", "latent_dim": 8})
    with pytest.raises(ConfigError, match=r"metric.hidden"):
        as_model_config({"name": "embedder", "hidden": [8]})
    with pytest.raises(ConfigError, match=r"metric.objective.*'proxy-anchor'"):
        as_model_config({"name": "embedder", "metric": {"objective": "arcface"}})
    with pytest.raises(ConfigError, match=r"metric.backbone"):
        as_model_config({"name": "embedder", "metric": {"backbone": "mlp"}})  # it is model.arch


@pytest.mark.parametrize("scale", [100.0, 3.0, 1.0])
def test_proxy_anchor_proxies_learn_at_their_own_rate(scale):
    from reprlab.train import TrainConfig
    from reprlab.train.loop import make_optimizer

    cfg = ModelConfig(
        name="embedder", metric={"objective": "proxy-anchor", "proxy_lr_scale": scale}
    )
    model = build_model(cfg, Digits())
    optimizer = make_optimizer(model, TrainConfig(lr=1e-3))
    proxies = model.objective.loss.proxies
    groups = {id(p): g["lr"] for g in optimizer.param_groups for p in g["params"]}
    assert groups[id(proxies)] == pytest.approx(1e-3 * scale)
    backbone = next(model.backbone.parameters())
    assert groups[id(backbone)] == 1e-3
    assert len(groups) == len(list(model.parameters()))  # every parameter in exactly one group
