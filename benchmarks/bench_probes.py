"""The torch probes against scikit-learn's equivalents fitted on the same codes in the same run.

    OMP_NUM_THREADS=2 .venv/bin/python benchmarks/bench_probes.py [--rows 60000] [--repeats 1]

Two sets of codes: scikit-learn's 8x8 digits as reprlab loads them (1 347 train, 450 test
images; the 64 pixels are the codes), and Fashion-MNIST-sized codes (the first ``--rows``
train images and all 10 000 test images projected onto 64 seeded Gaussian directions).
Each probe function (fit on train, score on test, hyperparameters chosen on 10 % of train)
is timed against scikit-learn fitted with its defaults on the same standardised codes
(StandardScaler + LogisticRegression(max_iter=2000) | MLPClassifier((256,), early_stopping=True)
| KNeighborsClassifier(10)), which choose nothing. Prints seconds, test accuracy and the ratio
sklearn / probe (above 1: the probe is faster), best of ``--repeats``, ours and sklearn in turn.
"""

import argparse
import os
import time

import torch


def digits():
    from reprlab.data import load_dataset

    data = load_dataset("digits")
    flat = [s.images.reshape(len(s), -1).float() / 255 for s in (data.train, data.test)]
    return flat[0], data.train.labels, flat[1], data.test.labels


def fashion_codes(rows: int, dim: int = 64, seed: int = 0):
    from reprlab.data import load_dataset

    data = load_dataset("fashion-mnist")
    directions = torch.randn(784, dim, generator=torch.Generator().manual_seed(seed)) / dim**0.5
    train = data.train.images[:rows].reshape(-1, 784).float() / 255 @ directions
    test = data.test.images.reshape(-1, 784).float() / 255 @ directions
    return train, data.train.labels[:rows], test, data.test.labels


def sklearn_model(name: str):
    from sklearn.linear_model import LogisticRegression
    from sklearn.neighbors import KNeighborsClassifier
    from sklearn.neural_network import MLPClassifier
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    model = {
        "logistic": lambda: LogisticRegression(max_iter=2000),
        "mlp": lambda: MLPClassifier((256,), early_stopping=True, random_state=0),
        "knn": lambda: KNeighborsClassifier(10),
    }[name]()
    return make_pipeline(StandardScaler(), model)


def run_ours(name, codes):
    from reprlab.evaluate.probes import PROBES

    start = time.perf_counter()
    out = PROBES[name](*codes, num_classes=10)
    return time.perf_counter() - start, out["accuracy"], out["chosen"]


def run_sklearn(name, codes):
    xtr, ytr, xte, yte = (t.numpy() for t in codes)
    start = time.perf_counter()
    model = sklearn_model(name).fit(xtr, ytr)
    accuracy = float((model.predict_proba(xte).argmax(1) == yte).mean())
    return time.perf_counter() - start, accuracy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=60000, help="Fashion-MNIST train rows")
    parser.add_argument("--repeats", type=int, default=1, help="best of this many runs")
    parser.add_argument("--probes", default="logistic,mlp,knn", help="comma-separated names")
    args = parser.parse_args()
    print(f"threads {torch.get_num_threads()}, load average {os.getloadavg()}")
    sets = {"digits": digits(), f"fashion-{args.rows}x64": fashion_codes(args.rows)}
    from reprlab.evaluate.probes import PROBES

    for name in args.probes.split(","):  # first calls: compiled knn kernels, torch's set-up
        PROBES[name](*(t[:200] for t in sets["digits"]), num_classes=10)
    print("| codes | probe | reprlab s | accuracy | chosen | scikit-learn s | accuracy | ratio |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- |")
    for label, codes in sets.items():
        for name in args.probes.split(","):
            ours, theirs = [], []
            for _ in range(args.repeats):
                ours.append(run_ours(name, codes))
                theirs.append(run_sklearn(name, codes))
            (t, acc, chosen), (ts, accs) = min(ours), min(theirs)
            print(
                f"| {label} | {name} | {t:.2f} | {acc:.4f} | {chosen} | {ts:.2f} | {accs:.4f} "
                f"| {ts / t:.2f}x |",
                flush=True,
            )
    print(f"load average {os.getloadavg()}")


if __name__ == "__main__":
    main()
