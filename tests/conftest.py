"""Shared test settings: deterministic, single-threaded torch so tests are repeatable."""

import os

os.environ.setdefault("MPLBACKEND", "Agg")

import torch

torch.set_num_threads(int(os.environ.get("REPRLAB_TEST_THREADS", "1")))
