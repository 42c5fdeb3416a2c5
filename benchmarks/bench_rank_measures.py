"""Trustworthiness and continuity on Fashion-MNIST train against exact k-NN of the images, in
the same run, and (on a subset) against scikit-learn's trustworthiness.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_rank_measures.py [--n 60000] [--k 10] \\
        [--repeats 2] [--sklearn-n 5000]

The embedding is the images' projection on their first 10 principal components (from the
first 5 000 images). Each part runs in its own subprocess; the three parts alternate (knn,
trustworthiness, continuity, then the reverse order) and each is timed by its mean, so drift
in the machine's speed falls on all. Target: trustworthiness and continuity each within 2x
of knn (the images' k nearest neighbours), equal to scikit-learn.
"""

import argparse
import json
import os
import subprocess
import sys
import time

import numpy as np


def load(n: int) -> tuple:
    from reprlab.data import load_dataset

    images = load_dataset("fashion-mnist").train.images[:n]
    x = (images.reshape(len(images), -1).double() / 255).numpy()
    centred = x - x[:5000].mean(0)
    _, _, components = np.linalg.svd(centred[:5000], full_matrices=False)
    return x, centred @ components[:10].T


def part(name: str, n: int, k: int) -> dict:
    from reprlab.evaluate.knn import knn
    from reprlab.evaluate.neighbours import continuity, trustworthiness

    x, z = load(n)
    trustworthiness(x[:500], z[:500], k), knn(x[:500], k)  # load the compiled kernels
    start = time.perf_counter()
    if name == "knn":
        knn(x.astype(np.float32), k)
        value = None
    elif name == "trustworthiness":
        value = trustworthiness(x, z, k)
    else:
        value = continuity(x, z, k)
    return {"seconds": time.perf_counter() - start, "value": value}


def sklearn_check(n: int, k: int) -> dict:
    from sklearn.manifold import trustworthiness as sk_trustworthiness

    from reprlab.evaluate.neighbours import continuity, trustworthiness

    x, z = load(n)
    return {
        "trustworthiness": [trustworthiness(x, z, k), sk_trustworthiness(x, z, n_neighbors=k)],
        "continuity": [continuity(x, z, k), sk_trustworthiness(z, x, n_neighbors=k)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=60000, help="training images used (<= 60000)")
    parser.add_argument("--k", type=int, default=10, help="neighbourhood size")
    parser.add_argument("--repeats", type=int, default=2, help="alternating runs of each part")
    parser.add_argument(
        "--sklearn-n", type=int, default=5000, help="images compared with scikit-learn (0: skip)"
    )
    parser.add_argument("--part", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.part == "sklearn":
        print(json.dumps(sklearn_check(args.sklearn_n, args.k)))
        return
    if args.part:
        print(json.dumps(part(args.part, args.n, args.k)))
        return

    def run_part(name: str) -> dict:
        command = [sys.executable, __file__, "--part", name, "--n", str(args.n), "--k", str(args.k)]
        command += ["--sklearn-n", str(args.sklearn_n)]
        output = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = json.loads(output.strip().splitlines()[-1])
        print(f"{name:16s} {json.dumps(result)}  load {os.getloadavg()[0]:.2f}", flush=True)
        return result

    names = ("knn", "trustworthiness", "continuity")
    runs = {name: [] for name in names}
    for repeat in range(args.repeats):
        for name in names if repeat % 2 == 0 else names[::-1]:
            runs[name].append(run_part(name)["seconds"])
    mean = {name: sum(times) / len(times) for name, times in runs.items()}
    print(f"\n{args.n} images x 784, PCA-10 embedding, k={args.k}")
    for name in names[1:]:
        print(f"{name} / knn = {mean[name] / mean['knn']:.3f}  (target <= 2)")
    if args.sklearn_n:
        check = run_part("sklearn")
        for name, (ours, theirs) in check.items():
            print(f"{name} on {args.sklearn_n}: {ours!r} (scikit-learn {theirs!r})")


if __name__ == "__main__":
    main()
