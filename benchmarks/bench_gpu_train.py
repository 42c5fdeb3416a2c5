"""reprlab.train.fit on a GPU against a bare PyTorch loop with the data already on the device.

The model is robust-vae's full-profile conv VAE (Cauchy reconstruction loss) on Fashion-MNIST
train (digits when Fashion-MNIST is not on this machine), batch 128, Adam 1e-3. The bare loop
holds the uint8 images on the device, draws a permutation there, gathers each batch, scales
it, and calls the same ``model.loss``, ``backward`` and ``step``, under ``torch.autocast``
for bf16-mixed, with channels_last on a GPU as ``fit`` does. ``fit`` also writes its
checkpoint, CSV and status. Runs alternate (bare, fit, bare, ...) and the best of each is
compared: on a GPU wall-clock seconds after ``torch.cuda.synchronize``, on the CPU this
process's CPU seconds. ``--compile`` adds ``fit`` with ``train.compile`` (two epochs: the first
pays the compilation, the second shows the steady speed).

Without a CUDA GPU the script says so and prints the CPU figures instead.

    .venv/bin/python benchmarks/bench_gpu_train.py [--precision bf16-mixed] [--repeats 3]
        [--limit N] [--compile]
"""

import argparse
import os
import tempfile
import time

import torch

from reprlab.data import load_dataset
from reprlab.errors import DataError
from reprlab.models import build_model
from reprlab.train import RunConfig, fit, seed_everything
from reprlab.train.device import configure_backends, use_channels_last


def config(data: str, device: str, precision: str, limit, compile_: bool = False, epochs=1):
    return RunConfig.model_validate(
        {
            "data": {"name": data, "limit": limit},
            "model": {"name": "vae", "arch": "conv", "latent_dim": 64, "loss": "cauchy"},
            "train": {
                "epochs": epochs,
                "batch_size": 128,
                "lr": 1e-3,
                "accelerator": device,
                "precision": precision,
                "compile": compile_,
                "log_every": 100,
            },
        }
    )


def dataset_for(limit):
    for name in ("fashion-mnist", "digits"):
        try:
            data = load_dataset(name)
        except DataError:
            continue
        if limit:
            from dataclasses import replace

            data = replace(data, splits={**data.splits, "train": data.train.subset(range(limit))})
        return name, data
    raise SystemExit("no data set found")


def clock(device: torch.device) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize()
        return time.perf_counter()
    return time.process_time()


def bare_loop(model, data, device: torch.device, precision: str) -> float:
    """One epoch of a hand-written loop, the data resident on ``device``; its seconds."""
    model = model.to(device)
    channels_last = use_channels_last(model, device)
    if channels_last:
        model = model.to(memory_format=torch.channels_last)
    optimiser = torch.optim.Adam(model.parameters(), lr=1e-3)
    images, labels = data.train.images.to(device), data.train.labels.to(device)
    bf16 = precision == "bf16-mixed"
    start = clock(device)
    order = torch.randperm(len(images), device=device)
    for rows in order.split(128):
        x = images[rows].float().div_(255.0)
        if channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=bf16):
            loss = model.loss((x, labels[rows])).total
        loss.backward()
        optimiser.step()
        optimiser.zero_grad(set_to_none=True)
    return clock(device) - start


def reprlab_fit(model, data, cfg, device: torch.device) -> tuple[float, list]:
    with tempfile.TemporaryDirectory() as out:
        start = clock(device)
        result = fit(model, data, cfg, out, progress=False)
        return clock(device) - start, result.history


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--precision", default="32-true", help="32-true or bf16-mixed")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None, help="train on the first N images")
    parser.add_argument("--compile", action="store_true", help="also time train.compile")
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    device = torch.device("cuda" if gpu else "cpu")
    if gpu:
        print(f"GPU: {torch.cuda.get_device_name(0)}")
    else:
        print("no CUDA GPU found: these are CPU figures (CPU seconds), not the GPU table")
    configure_backends(device)
    name, data = dataset_for(args.limit)
    print(f"data: {name}, {len(data.train)} training images; precision {args.precision}")
    print(f"load average: {os.getloadavg()[0]:.2f}")
    cfg = config(name, device.type, args.precision, None)
    bare, ours = [], []
    for _ in range(args.repeats):
        seed_everything(0)
        bare.append(bare_loop(build_model(cfg.model, data), data, device, args.precision))
        seed_everything(0)
        ours.append(reprlab_fit(build_model(cfg.model, data), data, cfg, device)[0])
    b, f = min(bare), min(ours)
    unit = "s" if gpu else "CPU s"
    print(f"bare loop, data on the device: {b:.3f} {unit} per epoch")
    print(f"reprlab fit:                   {f:.3f} {unit} per epoch")
    print(f"ratio fit / bare: {f / b:.3f}x (target at most 1.05x)")
    if args.compile:
        rows = {}
        for compiled in (False, True):
            seed_everything(0)
            c = config(name, device.type, args.precision, None, compiled, epochs=2)
            _, history = reprlab_fit(build_model(c.model, data), data, c, device)
            rows[compiled] = [row["seconds"] for row in history]
        (e1, e2), (c1, c2) = rows[False], rows[True]
        print(f"eager fit epochs: {e1:.3f} s, {e2:.3f} s (wall)")
        print(f"compiled fit epochs: {c1:.3f} s (with compilation), {c2:.3f} s (wall)")
        print(f"ratio compiled / eager, second epoch: {c2 / e2:.3f}x")
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
