"""One epoch of batches of 100 over Fashion-MNIST train: reprlab's BatchLoader vs torchvision.

A third line times the same split as a torch ``Dataset`` in a ``DataLoader`` with
``transform=v2.ToDtype(float32, scale=True)`` (the drop-in path of docs/using-reprlab.md).

The baseline is torchvision's ``FashionMNIST(root, transform=ToTensor())`` in a
``DataLoader(batch_size=100, shuffle=True)`` (per-sample PIL conversion), pointed at a temporary
``FashionMNIST/raw/`` folder holding the same IDX files, decompressed (torchvision wants them
so). Both run in this process, one after the other, on the same threads; each is timed over
``--repeat`` epochs and the best kept; the script prints both times and the ratio.

    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_batches.py [--root DIR] [--repeat 3]
"""

from __future__ import annotations

import argparse
import gzip
import tempfile
import time
from pathlib import Path

import torch


def time_reprlab(split, repeat: int) -> float:
    from reprlab.data import BatchLoader

    loader = BatchLoader(split, 100, shuffle=True, seed=0)
    best = float("inf")
    for e in range(repeat):
        start = time.perf_counter()
        total = 0.0
        for x, _ in loader.epoch(e):
            total += float(x[0, 0, 0, 0])
        best = min(best, time.perf_counter() - start)
    return best


def time_split_dataloader(split, repeat: int) -> float:
    from torch.utils.data import DataLoader
    from torchvision.transforms import v2

    dataset = split.with_transform(v2.ToDtype(torch.float32, scale=True))
    loader = DataLoader(dataset, batch_size=100, shuffle=True)
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        total = 0.0
        for x, _ in loader:
            total += float(x[0, 0, 0, 0])
        best = min(best, time.perf_counter() - start)
    return best


def time_torchvision(folder: Path, repeat: int) -> float:
    from torch.utils.data import DataLoader
    from torchvision.datasets import FashionMNIST
    from torchvision.transforms import ToTensor

    with tempfile.TemporaryDirectory() as tmp:
        raw = Path(tmp) / "FashionMNIST" / "raw"
        raw.mkdir(parents=True)
        for file in folder.iterdir():
            data = file.read_bytes()
            target = raw / file.name.removesuffix(".gz")
            target.write_bytes(gzip.decompress(data) if file.suffix == ".gz" else data)
        dataset = FashionMNIST(tmp, train=True, transform=ToTensor(), download=False)
        loader = DataLoader(dataset, batch_size=100, shuffle=True)
        best = float("inf")
        for _ in range(repeat):
            start = time.perf_counter()
            total = 0.0
            for x, _ in loader:
                total += float(x[0, 0, 0, 0])
            best = min(best, time.perf_counter() - start)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", help="folder to search first for the Fashion-MNIST IDX files")
    parser.add_argument("--repeat", type=int, default=3, help="epochs timed; the best is kept")
    args = parser.parse_args()
    from reprlab.data import load_dataset

    start = time.perf_counter()
    dataset = load_dataset("fashion-mnist", root=args.root)
    load = time.perf_counter() - start
    print(
        f"torch threads: {torch.get_num_threads()}; load_dataset: {load:.2f} s ({dataset.source})"
    )
    ours = time_reprlab(dataset.train, args.repeat)
    print(f"reprlab BatchLoader, one epoch:        {ours:.3f} s")
    theirs = time_torchvision(Path(dataset.source), args.repeat)
    print(f"torchvision FashionMNIST + DataLoader: {theirs:.3f} s")
    print(f"ratio (torchvision / reprlab): {theirs / ours:.1f}x")
    split = time_split_dataloader(dataset.train, args.repeat)
    print(f"reprlab Split + v2.ToDtype + DataLoader: {split:.3f} s")
    print(f"ratio (Split DataLoader / BatchLoader): {split / ours:.1f}x")


if __name__ == "__main__":
    main()
