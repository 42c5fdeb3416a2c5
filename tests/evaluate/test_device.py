"""Evaluation runs on the model's device: codes and reconstructions come back as CPU tensors,
equal (CPU) or close (GPU) to those computed on the CPU."""

import pytest
import torch

from reprlab.cli import main
from reprlab.errors import ConfigError
from reprlab.evaluate import evaluate, evaluate_loaded
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


def test_evaluation_on_a_named_device(loaded, tmp_path):
    model, dataset = loaded
    metrics = ["probe-knn"]
    on_cpu = evaluate_loaded(model, dataset, metrics, progress=False, device="cpu")
    assert on_cpu == evaluate_loaded(model, dataset, metrics, progress=False)
    with pytest.raises(ConfigError, match="cuda:99") as error:
        evaluate_loaded(model, dataset, metrics, progress=False, device="cuda:99")
    assert "\n" not in str(error.value)
    # checked before the run is loaded: tmp_path holds no run
    with pytest.raises(ConfigError, match="no-such-device"):
        evaluate(tmp_path, metrics, device="no-such-device")


def test_eval_cli_refuses_a_missing_device_in_one_line(tmp_path, capsys):
    assert main(["eval", str(tmp_path), "--device", "cuda:99"]) == 2
    err = capsys.readouterr().err.strip()
    assert "cuda:99" in err and len(err.splitlines()) == 1


@pytest.mark.cuda
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_evaluation_matches_the_cpu(loaded):
    model, dataset = loaded
    on_cpu = evaluate_loaded(model, dataset, ["probe-knn"], progress=False, device="cpu")
    try:
        on_gpu = evaluate_loaded(model, dataset, ["probe-knn"], progress=False, device="cuda")
        assert EvalContext(model, dataset).device.type == "cuda"
    finally:
        model.to("cpu")
    assert on_gpu["probe-knn"].keys() == on_cpu["probe-knn"].keys()
