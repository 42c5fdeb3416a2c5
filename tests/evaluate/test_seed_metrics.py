"""Evaluation adapters that follow the seeds: seed 001's conv pixel classifier and FID in a
classifier trained on another named data set, seed 004's split and N."""

import pytest
import torch

from reprlab.data import load_dataset
from reprlab.evaluate import evaluate_loaded
from reprlab.evaluate.fid import domain_classifier, fid, resized_dataset
from reprlab.evaluate.pixel_probe import pixel_probe
from reprlab.models import ModelConfig, build_model

OPTIONS = {"fid_epochs": 1, "fid_min_steps": 100, "prior_samples": 50}


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRLAB_CACHE_DIR", str(tmp_path))


def _model(dataset):
    torch.manual_seed(0)
    return build_model(ModelConfig(name="ae", latent_dim=4, hidden=(16,)), dataset).eval()


def test_probe_pixels_is_the_conv_classifier(cache):
    digits = load_dataset("digits")
    out = evaluate_loaded(_model(digits), digits, ["probe-pixels"], OPTIONS)["probe-pixels"]
    assert out == pytest.approx(pixel_probe(digits, digits.test, 0, 1, 100))
    assert "domain-cnn" in out["classifier"]


def test_fid_classifier_on_a_named_data_set(cache):
    digits = load_dataset("digits")
    model = _model(digits)
    own = evaluate_loaded(model, digits, ["fid"], OPTIONS)["fid"]
    assert own["feature_extractor"].startswith("domain-cnn-v1 (digits,")
    other = evaluate_loaded(model, digits, ["fid"], {**OPTIONS, "fid_data": "fashion-mnist"})
    if "skipped" in other:  # fashion-mnist absent on this machine
        pytest.skip(other["skipped"]["fid"])
    other = other["fid"]
    assert other["feature_extractor"].startswith("domain-cnn-v1 (fashion-mnist@1x8x8,")
    extractor, _ = domain_classifier(
        resized_dataset(load_dataset("fashion-mnist"), digits.image_shape), 0, 1, 100
    )
    with torch.no_grad():
        recon = model.reconstruct(digits.test.images.float() / 255).clamp(0, 1)
    assert other["reconstruction"] == pytest.approx(fid(extractor, digits.test.images, recon))
    assert other["reconstruction"] != pytest.approx(own["reconstruction"])
