"""Exact L1 neighbours of Fashion-MNIST images: knn on the uint8 pixels (the SAD kernel,
`reprlab.evaluate.l1_kernel`) against knn on the same pixels as float32 (`torch.cdist(p=1)`),
in the same run, with the same answer checked.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_l1.py [--queries 1000] [--k 200]

The first ``--queries`` training images are queries against all 60 000; the projected time
for every image as a query (seed 004's input-space neighbours) is the uint8 time scaled by
60 000 / queries. Each part is timed by the best of ``--repeats``.
"""

import argparse
import os
import time

import numpy as np
import torch

from reprlab.data import load_dataset
from reprlab.evaluate import l1_kernel
from reprlab.evaluate.knn import knn


def best(function, repeats: int) -> tuple[float, object]:
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return min(times), result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--queries", type=int, default=1000)
    parser.add_argument("--k", type=int, default=200)
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    images = load_dataset("fashion-mnist").train.images
    x8 = images.reshape(len(images), -1)
    xf = x8.float()
    q8, qf = x8[: args.queries], xf[: args.queries]
    if not l1_kernel.usable(x8.shape[1]):
        raise SystemExit("the SAD kernel cannot run here (no C compiler or no AVX2)")
    knn(x8[:500], 5, "l1"), knn(xf[:500], 5, "l1")  # compile and load the kernels
    t8, (d8, i8) = best(lambda: knn(x8, args.k, "l1", queries=q8), args.repeats)
    tf, (df, i_f) = best(lambda: knn(xf, args.k, "l1", queries=qf), args.repeats)
    same = torch.equal(i8, i_f) and torch.equal(d8, df)
    print(
        f"L1 knn, {args.queries} queries against {len(x8)} x {x8.shape[1]}, k={args.k}, "
        f"torch threads {torch.get_num_threads()}"
    )
    print(f"  float32 pixels, torch.cdist(p=1) : {tf:8.2f} s")
    print(f"  uint8 pixels, SAD kernel         : {t8:8.2f} s   ({tf / t8:.1f}x faster)")
    print(f"  same neighbours and distances    : {same}")
    print(
        f"  projected, all {len(x8)} images as queries (uint8): {t8 * len(x8) / args.queries:.0f} s"
    )
    print(f"  load average {np.round(os.getloadavg(), 2).tolist()}")


if __name__ == "__main__":
    main()
