"""The reference classifier on raw pixels (seed 001: a neural classifier on the images, 63 %
test accuracy on Omniglot with about 10 training images per class).

It is the small conv classifier of `reprlab.evaluate.fid` (``DomainClassifier``: two 3x3 conv
layers with max-pooling, a 128-unit layer and a linear classifier), trained on the training
images and cached per data set, the same network whose features FID uses; scored here by
accuracy and cross-entropy on the evaluated split, as the probes are.
"""

import torch

from reprlab.evaluate.fid import domain_classifier
from reprlab.evaluate.probes import cross_entropy


@torch.no_grad()
def pixel_probe(dataset, split, seed: int = 0, epochs: int = 3, min_steps: int = 1000) -> dict:
    """``{"accuracy", "cross_entropy", "classifier"}`` of the conv classifier trained on
    ``dataset.train`` (`reprlab.evaluate.fid.domain_classifier`), on ``split``'s images."""
    model, info = domain_classifier(dataset, seed, epochs, min_steps)
    model.eval()
    parts = [
        torch.softmax(model(split.images[s : s + 500].float() / 255), 1).double()
        for s in range(0, len(split), 500)
    ]
    probabilities = torch.cat(parts).numpy()
    labels = split.labels.numpy()
    return {
        "accuracy": float((probabilities.argmax(1) == labels).mean()),
        "cross_entropy": cross_entropy(probabilities, labels),
        "classifier": info["feature_extractor"],
    }


__all__ = ["pixel_probe"]
