"""Evaluation runs on the model's device: codes and reconstructions come back as CPU tensors,
equal (CPU) or close (GPU) to those computed on the CPU."""

import pytest
import torch

from reprlab.evaluate.context import EvalContext
from reprlab.evaluate.embed import embed, model_device, reconstruct
from reprlab.train import RunConfig, prepare


@pytest.fixture(scope="module")
def loaded():
    cfg = RunConfig.model_validate(
        {"data": {"name": "digits"}, "model": {"name": "ae", "hidden": [16], "latent_dim": 4}}
    )
    _, dataset, model = prepare(cfg)
    return model.eval(), dataset


def test_context_device_is_the_models(loaded):
    model, dataset = loaded
    assert model_device(model) == torch.device("cpu")
    assert EvalContext(model, dataset).device == torch.device("cpu")
    assert model_device(torch.nn.Identity()) == torch.device("cpu")  # no weights


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_codes_and_reconstructions_match_the_cpu(loaded):
    model, dataset = loaded
    split = dataset.test
    codes, images = embed(model, split), reconstruct(model, split)
    gpu = model.to("cuda")
    assert EvalContext(gpu, dataset).device.type == "cuda"
    try:
        gpu_codes, gpu_images = embed(gpu, split), reconstruct(gpu, split)
    finally:
        model.to("cpu")
    assert gpu_codes.device.type == gpu_images.device.type == "cpu"
    torch.testing.assert_close(gpu_codes, codes, rtol=1e-3, atol=1e-4)
    torch.testing.assert_close(gpu_images, images, rtol=1e-3, atol=1e-4)
