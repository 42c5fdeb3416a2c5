"""The conv reference classifier on raw pixels (seed 001)."""

import numpy as np
import pytest
import torch

from reprlab.data import load_dataset
from reprlab.evaluate.fid import domain_classifier
from reprlab.evaluate.pixel_probe import pixel_probe


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRLAB_CACHE_DIR", str(tmp_path))


def test_pixel_probe_is_the_conv_classifier_scored_on_the_split(cache):
    digits = load_dataset("digits")
    out = pixel_probe(digits, digits.test, seed=0, epochs=1, min_steps=200)
    model, info = domain_classifier(digits, 0, 1, 200)  # cached: the same network
    assert out["classifier"] == info["feature_extractor"] and "domain-cnn" in out["classifier"]
    assert out["accuracy"] == pytest.approx(info["feature_extractor_test_accuracy"])
    with torch.no_grad():
        p = torch.softmax(model(digits.test.images.float() / 255), 1).double().numpy()
    y = digits.test.labels.numpy()
    expected = -np.log(np.clip(p[np.arange(len(y)), y], 1e-7, 1)).mean()
    assert out["cross_entropy"] == pytest.approx(expected, rel=1e-6)
    assert out["accuracy"] > 0.8  # 10 classes of 8x8 digits
