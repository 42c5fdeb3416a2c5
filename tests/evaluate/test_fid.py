"""Fréchet distance against scipy.linalg.sqrtm; the domain classifier and its cache."""

import json

import numpy as np
import pytest
import torch
from scipy.linalg import sqrtm

from reprlab.evaluate.fid import (
    EXTRACTOR_VERSION,
    domain_classifier,
    extract_features,
    feature_statistics,
    fid,
    frechet_distance,
    train_domain_classifier,
)


def scipy_frechet(mu1, s1, mu2, s2):
    root = sqrtm(s1 @ s2).real
    return float(((mu1 - mu2) ** 2).sum() + np.trace(s1 + s2 - 2 * root))


def random_cov(rng, d, rank=None):
    a = rng.normal(size=(d, rank or d))
    return a @ a.T / d


def test_frechet_matches_scipy_sqrtm():
    rng = np.random.default_rng(0)
    for d in (1, 4, 30):
        mu1, mu2 = rng.normal(size=d), rng.normal(size=d)
        s1, s2 = random_cov(rng, d), random_cov(rng, d)
        assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(
            scipy_frechet(mu1, s1, mu2, s2), rel=1e-8, abs=1e-10
        )


def test_frechet_of_singular_covariances_matches_scipy():
    rng = np.random.default_rng(1)
    s1, s2 = random_cov(rng, 10, rank=3), random_cov(rng, 10, rank=4)
    mu = np.zeros(10)
    assert frechet_distance(mu, s1, mu, s2) == pytest.approx(
        scipy_frechet(mu, s1, mu, s2), abs=1e-6
    )


def test_identical_sets_are_zero_and_gaussians_closed_form():
    rng = np.random.default_rng(2)
    s = random_cov(rng, 5)
    assert frechet_distance(np.ones(5), s, np.ones(5), s) == pytest.approx(0, abs=1e-9)
    # N(0, a^2 I) vs N(0, b^2 I): d (a - b)^2
    assert frechet_distance(np.zeros(3), 4 * np.eye(3), np.zeros(3), np.eye(3)) == pytest.approx(3)
    f = rng.normal(size=(50, 3))
    mu, cov = feature_statistics(f)
    np.testing.assert_allclose(mu, f.mean(0))
    np.testing.assert_allclose(cov, np.cov(f.T))


class ToyDataset:
    """Two classes of 8x8 images: bright left half or bright right half, with noise."""

    name = "toy"
    image_shape = (1, 8, 8)
    num_classes = 2

    def __init__(self):
        g = torch.Generator().manual_seed(0)
        self.train, self.test = self._split(400, g), self._split(100, g)

    @staticmethod
    def _split(n, g):
        labels = torch.randint(0, 2, (n,), generator=g)
        images = torch.randint(0, 80, (n, 1, 8, 8), generator=g)
        images[labels == 0, :, :, :4] += 150
        images[labels == 1, :, :, 4:] += 150
        return type("Split", (), {"images": images.to(torch.uint8), "labels": labels})()


def test_domain_classifier_trains_caches_and_separates(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRLAB_CACHE_DIR", str(tmp_path))
    data = ToyDataset()
    model, info = domain_classifier(data, epochs=2, min_steps=60)
    assert info["feature_extractor_test_accuracy"] > 0.9
    assert "domain-cnn" in info["feature_extractor"]
    files = sorted(p.suffix for p in (tmp_path / "fid").iterdir())
    assert files == [".json", ".pt"]
    again, info2 = domain_classifier(data, epochs=2, min_steps=60)
    assert info2 == info == json.loads(next((tmp_path / "fid").glob("*.json")).read_text())
    for a, b in zip(model.state_dict().values(), again.state_dict().values()):
        assert torch.equal(a, b)
    real = data.test.images
    near = fid(model, real, data.train.images[:100])
    far = fid(model, real, torch.full_like(real, 128))
    assert fid(model, real, real) == pytest.approx(0, abs=1e-3)  # rank-deficient ReLU features
    assert near < far


def test_resized_dataset_matches_the_evaluated_shape():
    from reprlab.data import load_dataset
    from reprlab.evaluate.fid import resized_dataset

    digits = load_dataset("digits")
    colour = resized_dataset(digits, (3, 16, 16))
    assert colour.name == "digits@3x16x16" and colour.image_shape == (3, 16, 16)
    assert colour.train.images.dtype == torch.uint8
    assert torch.equal(colour.train.labels, digits.train.labels)
    # grey repeated into three equal channels; a constant image stays constant
    assert torch.equal(colour.train.images[:, 0], colour.train.images[:, 2])
    same = resized_dataset(digits, digits.image_shape)
    assert torch.equal(same.test.images, digits.test.images)
    grey = resized_dataset(colour, (1, 8, 8))
    assert grey.image_shape == (1, 8, 8)


def test_cpu_classifier_cache_key_is_unchanged_and_a_gpu_one_is_apart(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRLAB_CACHE_DIR", str(tmp_path))
    data = ToyDataset()
    domain_classifier(data, epochs=1, min_steps=10, device="cpu")
    (stem,) = {p.stem for p in (tmp_path / "fid").iterdir()}
    assert stem.endswith(f"-v{EXTRACTOR_VERSION}")  # CPU runs keep their cached classifier
    if torch.cuda.is_available():
        model, _ = domain_classifier(data, epochs=1, min_steps=10, device="cuda")
        assert next(model.parameters()).is_cuda
        assert any(p.stem.endswith("-cuda") for p in (tmp_path / "fid").iterdir())


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_features_match_cpu_features(tmp_path, monkeypatch):
    monkeypatch.setenv("REPRLAB_CACHE_DIR", str(tmp_path))
    data = ToyDataset()
    model, _ = domain_classifier(data, epochs=1, min_steps=30)
    cpu = extract_features(model, data.test.images)
    gpu = extract_features(model.to("cuda"), data.test.images)
    np.testing.assert_allclose(gpu, cpu, rtol=1e-3, atol=1e-4)
    trained, info = train_domain_classifier(data, epochs=2, min_steps=60, device="cuda")
    assert next(trained.parameters()).is_cuda and info > 0.9
