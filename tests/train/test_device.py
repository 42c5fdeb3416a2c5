"""Device paths of training: the resident data set, channels_last, bf16-mixed, torch.compile and
checkpoints across devices. Each runs on the CPU here (the code path a GPU takes, with
``device="cpu"``); the tests marked ``cuda`` repeat them on a GPU and skip without one."""

import warnings

import pytest
import torch
from torch import nn

from reprlab.callbacks import Callback
from reprlab.data import BatchLoader, Split
from reprlab.data.loader import fits_on_device
from reprlab.train import RunConfig, load_run, train_run
from reprlab.train import loop as loop_module
from reprlab.train.checkpoint import DeviceMismatchWarning, load_checkpoint, save_checkpoint
from reprlab.train.device import configure_backends, has_conv, use_channels_last

cuda = pytest.mark.cuda
needs_gpu = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")


class StopAt(Callback):
    """Raises at a given step: an interruption in the middle of an epoch."""

    def __init__(self, step):
        self.step = step

    def on_step_end(self, fit, step, output):
        if step == self.step:
            raise RuntimeError("killed")


def same_weights(a, b):
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


def _split(n=103, classes=5, size=6):
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (n, 1, size, size), dtype=torch.uint8, generator=g)
    return Split(images, torch.arange(n) % classes)


def _batches(loader, epoch=0):
    return [(x.cpu(), y.cpu()) for x, y in loader.epoch(epoch)]


def _config(arch="mlp", **train) -> RunConfig:
    model = {"name": "ae", "arch": arch, "latent_dim": 4, "loss": "mse"}
    if arch == "mlp":
        model["hidden"] = [16]
    return RunConfig.model_validate(
        {
            "data": {"name": "digits", "limit": 200},
            "model": model,
            "train": {"epochs": 2, "batch_size": 50, "log_every": 2, **train},
        }
    )


@pytest.mark.parametrize("samples_per_class", [None, 4])
def test_resident_batches_equal_per_batch_copies(samples_per_class):
    split = _split()
    kwargs = {"seed": 3, "samples_per_class": samples_per_class, "drop_last": True}
    copied = BatchLoader(split, 20, resident=False, **kwargs)
    resident = BatchLoader(split, 20, resident=True, **kwargs)
    assert resident.resident and BatchLoader(split, 20).resident  # the default on the CPU
    for epoch in (0, 1):
        a, b = _batches(copied, epoch), _batches(resident, epoch)
        assert len(a) == len(b) == len(copied)
        for (xa, ya), (xb, yb) in zip(a, b):
            assert torch.equal(xa, xb) and torch.equal(ya, yb)


def test_data_stays_resident_on_the_cpu_and_not_on_other_accelerators():
    split = _split()
    assert fits_on_device(split, "cpu")
    assert not fits_on_device(split, "meta")  # neither CPU nor CUDA: copied per batch
    assert not BatchLoader(split, 10, device="meta").resident
    if torch.cuda.is_available():
        assert fits_on_device(split, "cuda")
        assert not fits_on_device(split, "cuda", share=0.0)


def test_channels_last_batches_hold_the_same_values():
    split = _split()
    plain, nhwc = BatchLoader(split, 16), BatchLoader(split, 16, channels_last=True)
    for (xa, _), (xb, _) in zip(plain.epoch(0), nhwc.epoch(0)):
        assert xb.is_contiguous(memory_format=torch.channels_last)
        assert torch.equal(xa, xb)


def test_channels_last_only_for_conv_models_on_cuda():
    conv = nn.Sequential(nn.Conv2d(1, 4, 3), nn.Flatten())
    mlp = nn.Sequential(nn.Linear(4, 4))
    assert has_conv(conv) and not has_conv(mlp)
    assert use_channels_last(conv, torch.device("cuda"))
    assert not use_channels_last(conv, torch.device("cpu"))
    assert not use_channels_last(mlp, torch.device("cuda"))


def test_cudnn_benchmark_is_left_alone_on_the_cpu(monkeypatch):
    monkeypatch.setattr(torch.backends.cudnn, "benchmark", False)
    configure_backends(torch.device("cpu"))
    assert torch.backends.cudnn.benchmark is False
    configure_backends(torch.device("cuda"))  # sets a flag only; starts nothing
    assert torch.backends.cudnn.benchmark is True


def test_channels_last_fit_matches_the_plain_fit(tmp_path, monkeypatch):
    plain = train_run(_config("conv", epochs=1), tmp_path / "plain", progress=False)
    monkeypatch.setattr(loop_module, "use_channels_last", lambda model, device: True)
    nhwc = train_run(_config("conv", epochs=1), tmp_path / "nhwc", progress=False)
    assert nhwc.status == plain.status == "done"
    a, b = (load_run(r.run_dir).model.state_dict() for r in (plain, nhwc))
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_bf16_mixed_fit_is_finite_and_close_to_32_bit(tmp_path):
    full = train_run(_config("conv"), tmp_path / "fp32", progress=False)
    mixed = train_run(_config("conv", precision="bf16-mixed"), tmp_path / "bf16", progress=False)
    assert mixed.status == "done"
    # bf16 keeps 8 bits of mantissa: the losses agree to a few per cent, not to the last bit
    assert mixed.metrics["loss"] == pytest.approx(full.metrics["loss"], rel=0.05)
    weights = load_run(mixed.run_dir).model.state_dict()
    assert all(v.dtype == torch.float32 for v in weights.values() if v.is_floating_point())


def test_compiled_loss_trains_like_the_eager_one(tmp_path, monkeypatch):
    # dynamo traces the loss through Fabric's wrapper; the "eager" backend skips the minutes
    # of C++ code generation inductor takes on the CPU (the cuda test below runs inductor)
    compiled, real = [], torch.compile

    def eager_compile(fn, **kwargs):
        compiled.append(fn.__name__)
        return real(fn, backend="eager")

    monkeypatch.setattr(torch, "compile", eager_compile)
    _compare_compiled(tmp_path)
    assert compiled == ["loss"]


@cuda
@needs_gpu
def test_cuda_inductor_compiled_loss_trains_like_the_eager_one(tmp_path):
    _compare_compiled(tmp_path, accelerator="cuda")


def _compare_compiled(tmp_path, **train):
    train = {"epochs": 1, **train}
    eager = train_run(_config(**train), tmp_path / "eager", progress=False)
    compiled = train_run(_config(compile=True, **train), tmp_path / "compiled", progress=False)
    assert compiled.status == "done"
    a, b = (load_run(r.run_dir).model.state_dict() for r in (eager, compiled))
    assert a.keys() == b.keys()  # compiling leaves the checkpoint's keys alone
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-4, atol=1e-5)


def test_checkpoint_records_its_device_and_resumes_silently_on_the_same_one(tmp_path):
    cfg = _config(epochs=3)
    full = train_run(cfg, tmp_path / "full", progress=False)
    with pytest.raises(RuntimeError, match="killed"):
        train_run(cfg, tmp_path / "cut", callbacks=[StopAt(5)], progress=False)
    assert load_checkpoint(tmp_path / "cut" / "checkpoints" / "last.pt")["device"] == "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceMismatchWarning)
        resumed = train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    assert resumed.steps == full.steps
    assert same_weights(
        load_run(tmp_path / "full").model.state_dict(),
        load_run(tmp_path / "cut").model.state_dict(),
    )


def test_resuming_a_checkpoint_from_another_device_warns_and_continues(tmp_path):
    cfg = _config(epochs=3)
    full = train_run(cfg, tmp_path / "full", progress=False)
    with pytest.raises(RuntimeError, match="killed"):
        train_run(cfg, tmp_path / "cut", callbacks=[StopAt(5)], progress=False)
    path = tmp_path / "cut" / "checkpoints" / "last.pt"
    checkpoint = load_checkpoint(path)
    save_checkpoint(path, {**checkpoint, "device": "cuda"})  # as if written on a GPU
    with pytest.warns(DeviceMismatchWarning, match="written on cuda.*bit-identical"):
        resumed = train_run(cfg, tmp_path / "cut", resume=True, progress=False)
    assert resumed.status == "done" and resumed.steps == full.steps
    # on the CPU both halves ran on the CPU, so here the weights still agree exactly
    assert same_weights(
        load_run(tmp_path / "full").model.state_dict(),
        load_run(tmp_path / "cut").model.state_dict(),
    )


def test_a_checkpoint_without_a_device_is_a_cpu_one(tmp_path):
    from reprlab.train.checkpoint import check_device

    with warnings.catch_warnings():
        warnings.simplefilter("error", DeviceMismatchWarning)
        check_device({}, "cpu")
    with pytest.warns(DeviceMismatchWarning, match="resuming on cuda"):
        check_device({}, "cuda")


# ---- on a GPU -------------------------------------------------------------------------------


@cuda
@needs_gpu
def test_cuda_resident_loader_gathers_on_the_device():
    split = _split()
    resident = BatchLoader(split, 20, seed=1, device="cuda")
    assert resident.resident  # a few kB fit
    images, labels = resident._data()
    assert images.is_cuda and labels.is_cuda and images.dtype == torch.uint8
    cpu = BatchLoader(split, 20, seed=1)
    for (xa, ya), (xb, yb) in zip(_batches(cpu), resident.epoch(0)):
        assert xb.is_cuda and yb.is_cuda
        assert torch.equal(xa, xb.cpu()) and torch.equal(ya, yb.cpu())


@cuda
@needs_gpu
@pytest.mark.parametrize("precision", ["32-true", "bf16-mixed"])
def test_cuda_fit_conv_model(tmp_path, precision):
    cfg = _config("conv", accelerator="cuda", precision=precision)
    result = train_run(cfg, tmp_path, progress=False)
    assert result.status == "done"
    assert load_checkpoint(tmp_path / "checkpoints" / "last.pt")["device"] == "cuda"
    cpu = train_run(_config("conv"), tmp_path / "cpu", progress=False)
    assert result.metrics["loss"] == pytest.approx(cpu.metrics["loss"], rel=0.05)


@cuda
@needs_gpu
def test_cuda_checkpoint_resumes_on_the_cpu_with_a_warning(tmp_path):
    cfg = _config(epochs=3, accelerator="cuda")
    with pytest.raises(RuntimeError, match="killed"):
        train_run(cfg, tmp_path, callbacks=[StopAt(5)], progress=False)
    cpu_cfg = _config(epochs=3, accelerator="cpu")
    with pytest.warns(DeviceMismatchWarning, match="written on cuda"):
        resumed = train_run(cpu_cfg, tmp_path, resume=True, progress=False)
    assert resumed.status == "done"
    train_run(cfg, tmp_path / "full", progress=False)
    a = load_run(tmp_path).model.state_dict()
    b = load_run(tmp_path / "full").model.state_dict()
    for key in a:
        torch.testing.assert_close(a[key], b[key], rtol=1e-3, atol=1e-4)
