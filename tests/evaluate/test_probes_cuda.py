"""The probes on CUDA tensors: learned state stays on the GPU and the results agree with the
same probe on the CPU (skipped without a CUDA GPU)."""

import pytest
import torch
from sklearn.base import clone

from reprlab.data import load_dataset
from reprlab.evaluate.probes import PROBES, KNNProbe, LinearProbe, MLPProbe, logistic_probe

pytestmark = [
    pytest.mark.cuda,
    pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU"),
]


@pytest.fixture(scope="module")
def digits():
    data = load_dataset("digits")
    flat = [s.images.reshape(len(s), -1).float() / 255 for s in (data.train, data.test)]
    return flat[0], data.train.labels, flat[1], data.test.labels


def cuda(tensors):
    return [t.cuda() for t in tensors]


@pytest.mark.parametrize(
    "probe,state",
    [(LinearProbe(), "coef_"), (MLPProbe(), "coefs_"), (KNNProbe(), "fit_x_")],
    ids=["linear", "mlp", "knn"],
)
def test_estimators_fit_on_cuda_tensors_like_on_the_cpu(digits, probe, state):
    xtr, ytr, xte, yte = cuda(digits)
    on_gpu = clone(probe).fit(xtr, ytr)
    on_cpu = clone(probe).fit(*digits[:2])
    learned = getattr(on_gpu, state)
    learned = learned[0] if isinstance(learned, list) else learned
    # the kNN vote runs on the CPU (reprlab.evaluate.knn); the others train on the GPU
    assert learned.device.type == ("cpu" if isinstance(probe, KNNProbe) else "cuda")
    assert on_gpu.predict_proba(xte).shape == (len(yte), 10)
    assert abs(on_gpu.score(xte, yte) - on_cpu.score(*digits[2:])) <= 0.01


@pytest.mark.parametrize("name", ["logistic", "mlp", "knn", "forest"])
def test_probe_functions_take_cuda_tensors(digits, name):
    on_gpu = PROBES[name](*cuda(digits), num_classes=10)
    on_cpu = PROBES[name](*digits, num_classes=10)
    assert on_gpu["accuracy"] > 0.9
    assert abs(on_gpu["accuracy"] - on_cpu["accuracy"]) <= 0.01
    if name == "knn":
        assert on_gpu["chosen"] == on_cpu["chosen"]


def test_device_argument_moves_array_codes_to_the_gpu(digits):
    arrays = [t.numpy() for t in digits]
    assert LinearProbe(device="cuda").fit(*arrays[:2]).coef_.is_cuda
    assert logistic_probe(*arrays, device="cuda")["accuracy"] > 0.9
