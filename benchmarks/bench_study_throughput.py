"""Training images per second of each bundled study's models, and the training wall time of
each ``--profile full`` on one device that this implies.

Each cell of a study's full profile (its config without the seed) trains ``--steps`` batches
per epoch for two epochs with ``reprlab.train.fit`` on the cell's own data, model and training
settings (the training split cut to ``steps * batch_size`` images); the second epoch's
images per second (steady, after cuDNN autotuning or compilation) is that cell's speed. The
profile's training time is the sum over its runs of ``epochs * training images / speed``:
one run at a time on one device (``--jobs`` runs at a time share it and may do better). It
leaves out evaluation and, for magnet and repmet, the per-epoch cluster refresh over the
whole training split.

On a GPU it runs there (``--precision`` as given); without one it says so and prints the CPU
figures (``torch`` threads as set by ``OMP_NUM_THREADS``).

    .venv/bin/python benchmarks/bench_study_throughput.py [--studies robust-vae,default]
        [--steps 20] [--precision bf16-mixed]
"""

import argparse
import json
import os
import tempfile
from dataclasses import replace

import torch

from reprlab.models import build_model
from reprlab.study.expand import expand
from reprlab.study.spec import bundled_names, load_study
from reprlab.train import fit, seed_everything
from reprlab.train.run import load_data

_DATA: dict[str, object] = {}


def data_for(config):
    key = json.dumps(config.data.model_dump(mode="json"), sort_keys=True)
    if key not in _DATA:
        _DATA[key] = load_data(config.data)
    return _DATA[key]


def cells(study: str) -> dict[str, list]:
    """The full profile's runs grouped by their config without the seed."""
    groups: dict[str, list] = {}
    for run in expand(load_study(study).resolve("full")):
        resolved = run.config.model_dump(mode="json")
        resolved["train"].pop("seed")
        groups.setdefault(json.dumps(resolved, sort_keys=True), []).append(run)
    return groups


def speed(config, device: str, precision: str, steps: int) -> float:
    """Images per second of the second of two epochs of ``steps`` batches."""
    dataset = data_for(config)
    keep = min(len(dataset.train), steps * config.train.batch_size)
    small = replace(dataset, splits={**dataset.splits, "train": dataset.train.subset(range(keep))})
    train = {"epochs": 2, "accelerator": device, "precision": precision, "loggers": []}
    config = config.model_copy(update={"train": config.train.model_copy(update=train)})
    seed_everything(config.train.seed)
    model = build_model(config.model, small)
    with tempfile.TemporaryDirectory() as out:
        result = fit(model, small, config, out, progress=False)
    return result.history[-1]["images_per_s"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--studies", default=",".join(bundled_names()))
    parser.add_argument("--steps", type=int, default=20, help="batches per timed epoch")
    parser.add_argument("--precision", default="32-true", help="32-true or bf16-mixed")
    args = parser.parse_args()
    gpu = torch.cuda.is_available()
    device = "cuda" if gpu else "cpu"
    if gpu:
        print(f"GPU: {torch.cuda.get_device_name(0)}, precision {args.precision}")
    else:
        print(
            "no CUDA GPU found: these are CPU figures "
            f"({torch.get_num_threads()} threads), not the GPU table"
        )
    print(f"load average: {os.getloadavg()[0]:.2f}")
    print("| study | runs | cells | images/s per cell (min-max) | training, one run at a time |")
    print("| --- | --- | --- | --- | --- |")
    for study in args.studies.split(","):
        groups = cells(study)
        speeds, seconds = [], 0.0
        for runs in groups.values():
            config = runs[0].config
            per_s = speed(config, device, args.precision, args.steps)
            speeds.append(per_s)
            n = len(data_for(config).train)
            seconds += len(runs) * config.train.epochs * n / per_s
        n_runs = sum(len(r) for r in groups.values())
        print(
            f"| {study} | {n_runs} | {len(groups)} | {min(speeds):,.0f}-{max(speeds):,.0f} | "
            f"{seconds / 3600:.2f} h |",
            flush=True,
        )
    print(f"load average: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
