"""Seed 004's linear L1 autoencoder trained with and without `reprlab.train.device.
cpu_step_settings` (denormal floats flushed to zero), epoch by epoch, in the same run.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_denormals.py [--epochs 15]

The linear MLP autoencoder (784-128-64-12-2 and mirror, no nonlinearity), L1 loss, Adam lr
1e-3 with weight decay 1e-3 (torch's fused Adam, as ``fit`` builds it), batches of 100 of
Fashion-MNIST train: seed 004's setting, in which weight decay drives weights and Adam's
moments into denormal floats. Both runs start from the same seed and see the same batches;
each epoch's CPU time is printed with the share of denormal weights at its end.
"""

import argparse
import contextlib
import itertools
import time

import torch
from torch import nn

from reprlab.data import load_dataset
from reprlab.train.device import cpu_step_settings

TINY = torch.finfo(torch.float32).tiny


def denormal_share(net: nn.Module) -> float:
    weights = torch.cat([p.detach().flatten() for p in net.parameters()])
    return float(((weights != 0) & (weights.abs() < TINY)).float().mean())


def train(images: torch.Tensor, epochs: int, flushed: bool) -> list[tuple[float, float]]:
    torch.manual_seed(0)
    sizes = [784, 128, 64, 12, 2, 12, 64, 128, 784]
    net = nn.Sequential(*(nn.Linear(a, b) for a, b in itertools.pairwise(sizes)))
    opt = torch.optim.Adam(net.parameters(), lr=1e-3, weight_decay=1e-3, fused=True)
    settings = cpu_step_settings(torch.device("cpu")) if flushed else contextlib.nullcontext()
    out = []
    with settings:
        for _ in range(epochs):
            start = time.process_time()
            for rows in torch.randperm(len(images)).split(100):
                x = images[rows].float().div_(255)
                opt.zero_grad(set_to_none=True)
                nn.functional.l1_loss(net(x), x).backward()
                opt.step()
            out.append((time.process_time() - start, denormal_share(net)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--epochs", type=int, default=15)
    args = parser.parse_args()
    images = load_dataset("fashion-mnist").train.images.reshape(60000, -1)
    kept, flushed = train(images, args.epochs, False), train(images, args.epochs, True)
    print(f"threads {torch.get_num_threads()}; CPU s per epoch (share of denormal weights)")
    print("epoch  denormals kept       denormals flushed")
    for epoch, ((tk, dk), (tf, df)) in enumerate(zip(kept, flushed), 1):
        print(f"{epoch:5d}  {tk:6.2f} s ({dk:6.2%})   {tf:6.2f} s ({df:6.2%})")
    total_k, total_f = sum(t for t, _ in kept), sum(t for t, _ in flushed)
    print(f"total  {total_k:6.1f} s             {total_f:6.1f} s   ratio {total_k / total_f:.2f}x")


if __name__ == "__main__":
    main()
