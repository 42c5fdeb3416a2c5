"""The embedder's own loaders and its first cluster index take the run's device: batches and
codes on that device, the same numbers on the CPU as before, a missing device refused."""

import pytest
import torch

from reprlab.data import BatchLoader
from reprlab.errors import ConfigError
from reprlab.metric_learning.clusters import embed_images
from reprlab.metric_learning.sampler import MagnetBatchLoader
from reprlab.train import RunConfig, fit, prepare


def config(objective: str) -> RunConfig:
    metric = {"objective": objective, "embedding_dim": 8, "hidden": [32], "seed": 0,
              "clusters_per_batch": 6, "samples_per_cluster": 8, "samples_per_class": 8,
              "steps_per_epoch": 4}  # fmt: skip
    return RunConfig.model_validate(
        {
            "data": {"name": "digits", "limit": 300},
            "model": {"name": "embedder", "arch": "mlp", "metric": metric},
            "train": {"epochs": 1, "batch_size": 64},
        }
    )


def batches(loader, count: int = 3) -> list:
    out = []
    for batch in loader.epoch(0):
        out.append(batch)
        if len(out) == count:
            return out
    return out


@pytest.mark.parametrize(
    "objective,kind", [("magnet", MagnetBatchLoader), ("triplet", BatchLoader)]
)
def test_cpu_device_gives_the_default_batches(objective, kind):
    cfg = config(objective)
    _, dataset, model = prepare(cfg)
    default = batches(model.train_loader(dataset, cfg))
    on_cpu = model.train_loader(dataset, cfg, device="cpu")
    assert isinstance(on_cpu, kind)
    for a, b in zip(default, batches(on_cpu), strict=True):
        for x, y in zip(a, b, strict=True):
            assert x.device.type == "cpu" and torch.equal(x, y)


@pytest.mark.parametrize("objective", ["magnet", "triplet"])
def test_a_missing_device_is_a_one_line_config_error(objective):
    cfg = config(objective)
    _, dataset, model = prepare(cfg)
    with pytest.raises(ConfigError, match="cuda:99") as error:
        model.train_loader(dataset, cfg, device="cuda:99")
    assert "\n" not in str(error.value)
    with pytest.raises(ConfigError, match="device"):
        embed_images(model, dataset.train.images[:10], device="no-such-device")


def test_embed_images_on_a_named_device_equals_the_default():
    cfg = config("magnet")
    _, dataset, model = prepare(cfg)
    images = dataset.train.images[:50]
    assert torch.equal(embed_images(model, images, device="cpu"), embed_images(model, images))


def test_fit_hands_its_device_to_a_loader_hook_that_takes_one(tmp_path):
    cfg = config("magnet")
    _, dataset, model = prepare(cfg)
    own = model.train_loader
    seen = []

    def train_loader(dataset, config, device="unset"):
        seen.append(device)
        return own(dataset, config, device)

    model.train_loader = train_loader
    assert fit(model, dataset, cfg, tmp_path, progress=False).status == "done"
    assert seen == [torch.device("cpu")]


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
@pytest.mark.parametrize("objective", ["magnet", "triplet"])
def test_cuda_loaders_and_codes(objective):
    cfg = config(objective)
    _, dataset, model = prepare(cfg)
    cpu_codes = embed_images(model, dataset.train.images)
    loader = model.train_loader(dataset, cfg, device="cuda")
    assert next(model.parameters()).device.type == "cuda"
    for batch in batches(loader):
        assert all(t.device.type == "cuda" for t in batch)
    gpu_codes = embed_images(model, dataset.train.images)
    assert gpu_codes.device.type == "cpu"
    torch.testing.assert_close(gpu_codes, cpu_codes, rtol=1e-3, atol=1e-4)
