"""Metric learning under DDP (two CPU processes, gloo) computes what one process computes on
the whole batch."""

import subprocess
import sys
import textwrap

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from reprlab.metric_learning.distributed import whole_batch, world_size


def _gather_worker(rank: int, world: int, init: str, total: int, out: str) -> None:
    dist.init_process_group("gloo", init_method=init, rank=rank, world_size=world)
    full = torch.arange(total * 3, dtype=torch.float64).reshape(total, 3)
    shard = full[rank::world].clone().requires_grad_()
    gathered = whole_batch(shard)
    weights = torch.arange(1.0, total + 1, dtype=torch.float64)[:, None]
    loss = (gathered * weights).sum()
    loss.backward()
    torch.save(
        {"gathered": gathered.detach(), "grad": shard.grad, "world": world_size()},
        f"{out}/{rank}.pt",
    )
    dist.destroy_process_group()


@pytest.mark.parametrize("total", [6, 5])  # equal shards, and shards of 3 and 2 rows
def test_whole_batch_reassembles_the_global_order_and_keeps_only_local_gradients(tmp_path, total):
    init = f"file://{tmp_path}/store"
    mp.spawn(_gather_worker, args=(2, init, total, str(tmp_path)), nprocs=2, join=True)
    full = torch.arange(total * 3, dtype=torch.float64).reshape(total, 3)
    weights = torch.arange(1.0, total + 1, dtype=torch.float64)[:, None]
    for rank in range(2):
        result = torch.load(tmp_path / f"{rank}.pt")
        assert result["world"] == 2
        assert torch.equal(result["gathered"], full)
        # d(sum w * x)/dx of its own rows, times 2: DDP's mean over processes gives the total
        expected = 2 * weights[rank::2].expand(-1, 3)
        assert torch.equal(result["grad"], expected)


SCRIPT = textwrap.dedent(
    """
    import sys
    from reprlab.train import RunConfig, train_run

    out, devices, objective = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    train = {"epochs": 2, "batch_size": 40, "accelerator": "cpu", "devices": devices,
             "seed": 3, "optimizer": "sgd", "lr": 0.05, "momentum": 0.9}
    if devices > 1:
        train["strategy"] = "ddp"
    metric = {"objective": objective, "embedding_dim": 8, "hidden": [32], "refresh_every": 5}
    config = RunConfig.model_validate({
        "data": {"name": "digits", "limit": 400},
        "model": {"name": "embedder", "metric": metric},
        "train": train,
    })
    train_run(config, out, progress=False)
    """
)


@pytest.mark.slow
@pytest.mark.parametrize("objective", ["magnet", "repmet"])
def test_ddp_training_matches_one_process_on_the_whole_batch(tmp_path, objective):
    # SGD, not Adam: Adam's first steps move every weight by about lr whatever the size of
    # its gradient, so rounding-level gradients (Magnet is translation invariant) would differ
    from reprlab.train.checkpoint import load_checkpoint

    script = tmp_path / "train.py"
    script.write_text(SCRIPT)
    runs = {}
    for devices in (1, 2):
        out = tmp_path / f"devices{devices}"
        command = [sys.executable, str(script), str(out), str(devices), objective]
        done = subprocess.run(command, capture_output=True, text=True, timeout=600)
        assert done.returncode == 0, done.stderr[-3000:]
        runs[devices] = load_checkpoint(out / "checkpoints" / "last.pt")
    one, two = runs[1], runs[2]
    for key, value in one["model"].items():
        if value.is_floating_point():
            torch.testing.assert_close(two["model"][key], value, rtol=1e-4, atol=1e-5)
    losses = [[row["loss"] for row in run["history"]] for run in (one, two)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-5)
    if objective == "magnet":  # the sampler saw the same per-example losses
        recorded = [run["loader"]["sampler"]["example_losses"] for run in (one, two)]
        torch.testing.assert_close(recorded[1], recorded[0], rtol=1e-4, atol=1e-6, equal_nan=True)
