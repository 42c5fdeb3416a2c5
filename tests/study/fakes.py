"""Study directories written by hand, in the layout `reprlab run` writes, for tests that
check results and reports without training anything."""

from __future__ import annotations

import io
import json
from pathlib import Path

import numpy as np

from reprlab.study.expand import Cell


def png(colour: tuple[int, int, int] = (200, 30, 30), size: int = 16) -> bytes:
    from PIL import Image

    buffer = io.BytesIO()
    Image.new("RGB", (size, size), colour).save(buffer, format="PNG")
    return buffer.getvalue()


def write_study(
    root: Path,
    values: dict[str, dict[int, dict]],
    *,
    statuses=None,
    name: str = "fake",
    question: str = "Does it help?",
    headline=None,
    curves: bool = True,
    figures: bool = True,
) -> Path:
    """``values[cell_key][seed]`` is the run's metrics.json content (or None: no metrics).

    ``statuses[(cell_key, seed)] = (status, reason)`` overrides the default ``done``.
    """
    statuses = statuses or {}
    runs, cells = [], []
    for cell_key, per_seed in values.items():
        cells.append(cell_key)
        for seed, metrics in per_seed.items():
            run_id = f"r{len(runs):03d}"
            run = root / "runs" / run_id
            (run / "logs").mkdir(parents=True)
            status, reason = statuses.get((cell_key, seed), ("done", ""))
            (run / "status.json").write_text(
                json.dumps({"status": status, "reason": reason, "epoch": 2, "step": 20})
            )
            (run / "config.yaml").write_text("model: {name: ae}\n")
            if metrics is not None and status == "done":
                (run / "metrics.json").write_text(json.dumps(metrics))
            if curves:
                rng = np.random.default_rng(seed)
                lines = ["epoch,train_loss,val_loss"] + [
                    f"{e},{1 / (e + 1) + rng.uniform(0, 0.1):.4f},{1.1 / (e + 1):.4f}"
                    for e in range(3)
                ]
                (run / "logs" / "metrics.csv").write_text("\n".join(lines) + "\n")
            if figures and status == "done":
                (run / "figures").mkdir()
                (run / "figures" / "reconstructions.png").write_bytes(png())
                (run / "figures" / "scatter.png").write_bytes(png((30, 30, 200)))
            runs.append({"run_id": run_id, "seed": seed, "cells": [cell_key]})
    index = {
        "study": name,
        "profile": "quick",
        "question": question,
        "source": "test",
        "cells": cells,
        "runs": runs,
        "report": {"alpha": 0.05, "directions": {}, "metrics": headline or []},
        "resolved": {
            "seeds": sorted({s for v in values.values() for s in v}),
            "base": {"model": {"name": "ae"}},
            "grids": {},
            "evaluate": {},
        },
    }
    (root / "study.json").write_text(json.dumps(index))
    return root


def cell(key: str) -> Cell:
    return Cell.from_key(key)
