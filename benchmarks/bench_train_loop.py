"""reprlab.train.fit against a minimal hand-written PyTorch loop, same run, same tensors.

Seed 004's ReLU MLP autoencoder (784-128-64-12-2 and mirror, tanh output, MSE, Adam lr 1e-3 with
weight decay 1e-3; torch's fused Adam in both, as ``fit`` builds it), one epoch of Fashion-MNIST
train at batch 100. Both loops index the same uint8 tensor per batch and convert it to float;
``fit`` also writes its checkpoint, CSV and status. Runs alternate (hand, reprlab, hand, ...)
and the best of each is compared. Times are this process's CPU seconds (``time.process_time``),
which a busy shared machine disturbs far less than wall-clock time; run single-threaded so CPU
time equals compute time.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_train_loop.py [--repeats 3]
"""

import argparse
import os
import tempfile
import time

import torch
from torch import nn

from reprlab.data import load_dataset
from reprlab.models import build_model
from reprlab.train import RunConfig, fit, seed_everything

CONFIG = {
    "data": {"name": "fashion-mnist"},
    "model": {
        "name": "ae",
        "arch": "mlp",
        "activation": "relu",
        "output": "tanh",
        "loss": "mse",
        "hidden": [128, 64, 12],
        "latent_dim": 2,
    },
    "train": {
        "epochs": 1,
        "batch_size": 100,
        "optimizer": "adam",
        "lr": 1e-3,
        "weight_decay": 1e-3,
        "accelerator": "cpu",
        "log_every": 100,
    },
}


def hand_model() -> nn.Module:
    relu = nn.ReLU
    return nn.Sequential(
        nn.Flatten(),
        nn.Linear(784, 128),
        relu(),
        nn.Linear(128, 64),
        relu(),
        nn.Linear(64, 12),
        relu(),
        nn.Linear(12, 2),
        nn.Linear(2, 12),
        relu(),
        nn.Linear(12, 64),
        relu(),
        nn.Linear(64, 128),
        relu(),
        nn.Linear(128, 784),
        nn.Tanh(),
    )


def hand_loop(images: torch.Tensor, seed: int = 0) -> float:
    torch.manual_seed(seed)
    model = hand_model()
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, weight_decay=1e-3, fused=True)
    start = time.process_time()
    order = torch.randperm(len(images))
    for i in range(0, len(images), 100):
        x = images[order[i : i + 100]].float().div_(255.0)
        x = 2 * x - 1  # seed 004: Normalize(0.5, 0.5) input and target, tanh output
        loss = nn.functional.mse_loss(model(x).view_as(x), x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
    return time.process_time() - start


def reprlab_fit(dataset, config: RunConfig) -> float:
    seed_everything(config.train.seed)
    model = build_model(config.model, dataset)
    with tempfile.TemporaryDirectory() as run_dir:
        start = time.process_time()
        result = fit(model, dataset, config, run_dir, progress=False)
        seconds = time.process_time() - start
    assert result.status == "done"
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3, help="runs of each loop (default 3)")
    args = parser.parse_args()
    dataset = load_dataset("fashion-mnist")
    config = RunConfig.model_validate(CONFIG)
    images = dataset.train.images
    hand_loop(images[:10000])  # warm-up both: imports, first allocations
    reprlab_fit(dataset, config)
    # the hand loop runs as in a plain PyTorch process: without the NVML-based CUDA check
    # that importing Lightning (in fit) switches on, which costs every Adam step a dlopen
    os.environ.pop("PYTORCH_NVML_BASED_CUDA_CHECK", None)
    hand, ours = [], []
    for _ in range(args.repeats):
        hand.append(hand_loop(images))
        ours.append(reprlab_fit(dataset, config))
    print(f"threads {torch.get_num_threads()}  OMP_NUM_THREADS={os.environ.get('OMP_NUM_THREADS')}")
    print(f"hand-written loop : best {min(hand):.2f} CPU s  runs {[round(t, 2) for t in hand]}")
    print(f"reprlab.train.fit : best {min(ours):.2f} CPU s  runs {[round(t, 2) for t in ours]}")
    print(f"ratio (best/best) : {min(ours) / min(hand):.3f}x  (target <= 1.05x)")


if __name__ == "__main__":
    main()
