"""knn on a device (`reprlab.evaluate.knn_device`) on Fashion-MNIST train (60 000 x 784,
k = 200), against the bare matrix products and top-k it needs, and faiss's exact index, in the
same run.

    .venv/bin/python benchmarks/bench_knn_gpu.py [--device cuda] [--n 60000] [--k 200] \
        [--queries Q] [--repeats 3] [--budget-mib 512]
    OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_knn_gpu.py --device cpu --queries 500

Every image is a query (self excluded) unless ``--queries Q``: then the first Q images are the
queries against all ``--n``. The bare part is, per query block of the size knn picks for the
same budget, ``torch.mm`` with all the data and ``torch.topk`` of the ``k + 1`` smallest: no
centring, no exact re-ranking, no tie handling. faiss is `IndexFlatL2` (a `GpuIndexFlatL2` on
a CUDA device), searched for ``k + 1`` neighbours; skipped with one line when ``import faiss``
fails, else its time and the share of neighbours it has in common with knn (first 1000
queries; exact ties may differ). knn and the bare part alternate (ABBA) after one warm-up
each, and each is timed by its mean; CUDA work is synchronised before every clock reading.
Target on a GPU: knn at most 1.2x the bare part.
"""

import argparse
import os
import time

import numpy as np
import torch

from reprlab.data import load_dataset
from reprlab.data.device import resolve_device
from reprlab.evaluate.knn_device import _block_rows, knn_on_device


def timed(device: torch.device, work) -> float:
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    start = time.perf_counter()
    work()
    if device.type == "cuda":
        torch.cuda.synchronize(device)
    return time.perf_counter() - start


def bare(x: torch.Tensor, q: torch.Tensor, k: int, rows: int) -> None:
    """The matrix products and top-k knn needs: each query block against all the data."""
    for start in range(0, len(q), rows):
        scores = torch.mm(q[start : start + rows], x.T)
        torch.topk(scores, k + 1, dim=1, largest=False)


def faiss_search(x: torch.Tensor, q: torch.Tensor, k: int, device: torch.device, own: bool):
    """faiss's exact L2 index over ``x``, searched for the ``k + 1`` nearest of ``q``:
    ``(seconds, indices [Q, k])`` (each query's own index dropped when ``own``, else the last),
    or a line saying why not when faiss (or its GPU build on a CUDA device) is missing."""
    try:
        import faiss
    except ImportError as error:
        return f"faiss skipped: {error}"
    data, queries = x.cpu().numpy(), q.cpu().numpy()
    if device.type == "cuda":
        if not hasattr(faiss, "StandardGpuResources"):
            return "faiss skipped: this faiss has no GPU support (install faiss-gpu)"
        resources = faiss.StandardGpuResources()  # must outlive the index
        config = faiss.GpuIndexFlatConfig()
        config.device = device.index or 0
        index = faiss.GpuIndexFlatL2(resources, data.shape[1], config)
    else:
        index = faiss.IndexFlatL2(data.shape[1])
    found = []

    def work():
        index.reset()
        index.add(data)
        found[:] = [index.search(queries, k + 1)[1]]

    work()  # warm-up
    seconds = timed(device, work)
    indices = found[0]
    if own:
        keep = indices != np.arange(len(indices))[:, None]
        keep[keep.sum(1) > k, -1] = False  # own index absent (a duplicate took its place)
        indices = indices[keep].reshape(len(indices), k)
    return seconds, indices[:, :k]


def agreement(a: np.ndarray, b: np.ndarray, rows: int = 1000) -> float:
    """Mean share of each of the first ``rows`` queries' neighbours found by both."""
    rows = min(rows, len(a))
    return float(np.mean([len(np.intersect1d(a[r], b[r])) for r in range(rows)]) / a.shape[1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", help="where knn runs (default: cuda when there is a GPU)")
    parser.add_argument("--n", type=int, default=60000, help="training images used (<= 60000)")
    parser.add_argument("--k", type=int, default=200, help="neighbours per image")
    parser.add_argument("--queries", type=int, help="the first QUERIES images (default: all)")
    parser.add_argument("--repeats", type=int, default=3, help="alternating timed runs of each")
    parser.add_argument("--budget-mib", type=int, default=512, help="knn's memory_budget (MiB)")
    args = parser.parse_args()
    device = resolve_device(args.device)
    images = load_dataset("fashion-mnist").train.images[: args.n]
    x = (images.reshape(len(images), -1).float() / 255).to(device)
    n, k = len(x), args.k
    nq = n if args.queries is None else args.queries
    q = x[:nq]
    budget = args.budget_mib * 2**20
    width = min(n - 1, k + max(8, k // 16))
    rows, cols = _block_rows(nq, n, width + 1, 4, budget)

    def run_knn():
        if args.queries is None:
            return knn_on_device(x, k, device=device, memory_budget=budget)
        return knn_on_device(x, k, queries=q, device=device, memory_budget=budget)

    parts = {"knn": lambda: run_knn(), "bare": lambda: bare(x, q, k, rows)}
    for work in parts.values():  # warm-up: allocator, kernels, caches
        work()
    seconds = {name: [] for name in parts}
    for repeat in range(args.repeats):
        for name in ("knn", "bare") if repeat % 2 == 0 else ("bare", "knn"):
            seconds[name].append(timed(device, parts[name]))
    mean = {name: sum(s) / len(s) for name, s in seconds.items()}
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(
        f"knn of {nq} queries against {n} x {x.shape[1]}, k={k}, on {device} ({name}); "
        f"query blocks of {rows}, data blocks of {cols}; torch threads "
        f"{torch.get_num_threads()}"
    )
    for part, times in seconds.items():
        print(f"{part:5s} mean {mean[part]:.3f} s  ({', '.join(f'{t:.3f}' for t in times)})")
    print(f"knn / bare matmul + topk = {mean['knn'] / mean['bare']:.3f}  (target <= 1.2 on a GPU)")
    faiss = faiss_search(x, q, k, device, own=args.queries is None)
    if isinstance(faiss, str):
        print(faiss)
    else:
        neighbours = run_knn()[1].cpu().numpy()
        print(f"faiss IndexFlatL2 {faiss[0]:.3f} s; knn / faiss = {mean['knn'] / faiss[0]:.3f}; "
              f"neighbours in common {agreement(neighbours, faiss[1]):.4f}")  # fmt: skip
    if device.type == "cuda":
        print(f"peak GPU memory {torch.cuda.max_memory_allocated(device) / 2**30:.2f} GiB")
    print(f"load average {os.getloadavg()[0]:.2f} at the end")


if __name__ == "__main__":
    main()
