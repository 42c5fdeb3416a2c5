"""Fréchet distance in the features of a small classifier trained on the data set itself.

FID (Heusel et al. 2017): with feature means ``mu`` and covariances ``S`` of two image sets,
``||mu_1 - mu_2||^2 + Tr(S_1 + S_2 - 2 (S_1 S_2)^{1/2})``. Inception features mean nothing for
8x8 digits or 28x28 garments, so (as seed 001 does with an MNIST classifier) the features are
the penultimate layer of ``DomainClassifier``, trained once per data set (seeded, a few
epochs) and cached under ``cache_dir('fid')`` keyed by data set name and content hash. The
classifier's name and test accuracy go into the results beside the distance. Training and
feature extraction run on ``device`` (the evaluated model's), with the training images
resident there; a classifier trained on a GPU is cached apart from the CPU one, whose numbers
stay bit-identical from run to run. The classifier may instead be trained on another named
data set (seed 001 used one trained on MNIST), its images resized to the evaluated images'
shape (`resized_dataset`).
"""

import math
from pathlib import Path

import numpy as np
import torch
from torch import nn

from reprlab.atomic import torch_save, write_json
from reprlab.evaluate.cache import cache_dir, content_hash

EXTRACTOR_VERSION = 1


def frechet_distance(mu1, cov1, mu2, cov2) -> float:
    """``||mu1 - mu2||^2 + Tr(cov1 + cov2 - 2 (cov1 cov2)^{1/2})``; the trace of the matrix
    square root is ``sum sqrt(eig(cov1^{1/2} cov2 cov1^{1/2}))``, a symmetric PSD problem."""
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    cov1, cov2 = np.atleast_2d(cov1).astype(np.float64), np.atleast_2d(cov2).astype(np.float64)
    w, v = np.linalg.eigh(cov1)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    middle = root1 @ cov2 @ root1
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((middle + middle.T) / 2), 0, None)).sum()
    return float(((mu1 - mu2) ** 2).sum() + np.trace(cov1) + np.trace(cov2) - 2 * trace_root)


def feature_statistics(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean and unbiased covariance of ``[N, F]`` features."""
    f = np.asarray(features, dtype=np.float64)
    return f.mean(0), np.cov(f, rowvar=False)


class DomainClassifier(nn.Module):
    """Two 3x3 conv layers (32, 64 channels) with max-pooling, pooled to 4x4, a 128-unit ReLU
    layer (the FID features) and a linear classifier."""

    name = "domain-cnn-v1"

    def __init__(self, channels: int, num_classes: int, features: int = 128):
        super().__init__()
        self.body = nn.Sequential(
            nn.Conv2d(channels, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2, ceil_mode=True),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(), nn.Linear(64 * 16, features), nn.ReLU(),
        )  # fmt: skip
        self.head = nn.Linear(features, num_classes)

    def features(self, x):
        return self.body(x)

    def forward(self, x):
        return self.head(self.body(x))


def _float_images(images) -> torch.Tensor:
    x = torch.as_tensor(images)
    return x.float() / 255.0 if x.dtype == torch.uint8 else x.float()


def _device(model: nn.Module) -> torch.device:
    return next(model.parameters()).device


@torch.no_grad()
def extract_features(model: DomainClassifier, images, batch_size: int = 500) -> np.ndarray:
    """Penultimate features of ``images`` (uint8 or float in [0, 1], NCHW), computed on the
    model's device."""
    model.eval()
    x, device = torch.as_tensor(images), _device(model)
    parts = [
        model.features(_float_images(x[s : s + batch_size].to(device)))
        for s in range(0, len(x), batch_size)
    ]
    return torch.cat(parts).double().cpu().numpy()


@torch.no_grad()
def _accuracy(model, images, labels, batch_size=500) -> float:
    model.eval()
    device = _device(model)
    correct = 0
    for s in range(0, len(images), batch_size):
        logits = model(_float_images(images[s : s + batch_size].to(device)))
        truth = torch.as_tensor(labels[s : s + batch_size]).to(device)
        correct += int((logits.argmax(1) == truth).sum())
    return correct / len(images)


@torch.enable_grad()
def train_domain_classifier(
    dataset,
    seed: int = 0,
    epochs: int = 3,
    batch_size: int = 128,
    min_steps: int = 1000,
    device: str | torch.device = "cpu",
):
    """Train ``DomainClassifier`` on ``dataset.train`` (Adam 1e-3, seeded shuffling) for
    ``epochs``, or more on a small data set so it takes at least ``min_steps`` steps, on
    ``device`` with the images resident there; returns the model in eval mode and its accuracy
    on ``dataset.test``."""
    device = torch.device(device)
    torch.manual_seed(seed)
    generator = torch.Generator().manual_seed(seed)
    model = DomainClassifier(dataset.image_shape[0], dataset.num_classes).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = dataset.train.images.to(device), dataset.train.labels.to(device)
    epochs = max(epochs, math.ceil(min_steps / math.ceil(len(images) / batch_size)))
    for _ in range(epochs):
        model.train()
        order = torch.randperm(len(images), generator=generator).to(device)
        for batch in order.split(batch_size):
            optimiser.zero_grad()
            loss = nn.functional.cross_entropy(model(_float_images(images[batch])), labels[batch])
            loss.backward()
            optimiser.step()
    return model.eval(), _accuracy(model, dataset.test.images, dataset.test.labels)


def domain_classifier(
    dataset,
    seed: int = 0,
    epochs: int = 3,
    min_steps: int = 1000,
    device: str | torch.device = "cpu",
) -> tuple[DomainClassifier, dict]:
    """The cached classifier for ``dataset`` (trained on first use, on ``device``), on
    ``device``, and its description
    ``{"feature_extractor": name, "feature_extractor_test_accuracy": accuracy}``."""
    device = torch.device(device)
    key = content_hash(dataset.train.images, dataset.train.labels, dataset.test.images)
    stem = f"{dataset.name}-{key}-{DomainClassifier.name}-s{seed}-e{epochs}-m{min_steps}"
    stem += f"-v{EXTRACTOR_VERSION}" + ("" if device.type == "cpu" else f"-{device.type}")
    weights, info_path = (
        Path(cache_dir("fid"), f"{stem}.pt"),
        Path(cache_dir("fid"), f"{stem}.json"),
    )
    model = DomainClassifier(dataset.image_shape[0], dataset.num_classes)
    if weights.is_file() and info_path.is_file():
        import json

        model.load_state_dict(torch.load(weights, map_location="cpu", weights_only=True))
        info = json.loads(info_path.read_text())
        return model.to(device).eval(), info
    model, accuracy = train_domain_classifier(
        dataset, seed, epochs, min_steps=min_steps, device=device
    )
    info = {
        "feature_extractor": f"{DomainClassifier.name} ({dataset.name}, seed {seed})",
        "feature_extractor_test_accuracy": accuracy,
    }
    torch_save(model.state_dict(), weights)
    write_json(info_path, info)
    return model, info


def resized_dataset(dataset, image_shape: tuple[int, int, int]):
    """``dataset`` with every split's images resized to ``image_shape``'s H x W (bilinear,
    antialiased) and its channels matched to C (grey repeated to colour, colour averaged to
    grey), still uint8, named ``NAME@CxHxW``."""
    from reprlab.data.types import Dataset, Split

    c, h, w = image_shape

    def convert(images: torch.Tensor) -> torch.Tensor:
        x = images.float()
        if x.shape[1] != c:
            x = x.mean(1, keepdim=True) if c == 1 else x.mean(1, keepdim=True).expand(-1, c, -1, -1)
        if tuple(x.shape[2:]) != (h, w):
            parts = [
                nn.functional.interpolate(
                    x[s : s + 1000], size=(h, w), mode="bilinear", antialias=True
                )
                for s in range(0, len(x), 1000)
            ]
            x = torch.cat(parts)
        return x.round().clamp(0, 255).to(torch.uint8).contiguous()

    splits = {name: Split(convert(s.images), s.labels) for name, s in dataset.splits.items()}
    return Dataset(f"{dataset.name}@{c}x{h}x{w}", splits, dataset.classes, dataset.source)


def fid(extractor: DomainClassifier, real_images, other_images) -> float:
    """FID between two image sets in ``extractor``'s features."""
    return frechet_distance(
        *feature_statistics(extract_features(extractor, real_images)),
        *feature_statistics(extract_features(extractor, other_images)),
    )
