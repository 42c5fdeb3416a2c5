"""Forward + backward of AdaptiveLoss on a 256 x 784 float32 batch, against plain MSE.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_adaptive_loss.py [--repeats 200]

Prints the median time of each (measured round-robin) and the ratios to MSE from the same
run (the machine may be shared: compare ratios, not absolute times). Rows:

- ``AdaptiveLoss``: reduction 'mean', the per-column fast path (`general.column_sums`: per-
  dimension constants once per call, log1p/expm1 chain in reused buffers, alpha and scale
  gradients as per-dimension sums over the batch). This is the number the 5x target is for.
- ``AdaptiveLoss, elementwise``: reduction 'none' then ``.mean()``, i.e. the general
  elementwise Function every call with a per-element gradient takes.
- ``reference-like NLL``: the generic autograd formulation of the public reference (rho
  through pow/where with a clamped alpha, log Z from the table).

`torch.compile` is not offered: inductor (CPU) of the same kernels measured slower than eager.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from reprlab.losses import AdaptiveLoss, log_partition


def reference_like_nll(x: torch.Tensor, alpha: torch.Tensor, scale: torch.Tensor) -> torch.Tensor:
    """The public reference's formulation: autograd through every case with torch.where."""
    eps = torch.finfo(x.dtype).eps
    z2 = (x / scale) ** 2
    b = torch.maximum(torch.tensor(eps), (alpha - 2).abs())
    d = torch.where(alpha >= 0, torch.ones_like(alpha), -torch.ones_like(alpha)) * torch.maximum(
        torch.tensor(eps), alpha.abs()
    )
    general = (b / d) * (torch.pow(z2 / b + 1.0, 0.5 * alpha) - 1.0)
    l2 = 0.5 * z2
    cauchy = torch.log1p(0.5 * z2)
    rho = torch.where(alpha == 0, cauchy, torch.where(alpha == 2, l2, general))
    return (rho + torch.log(scale) + log_partition(alpha)).mean()


def median_times(steps: dict, repeats: int) -> dict[str, float]:
    """Median seconds per call of each step, measured round-robin so load hits all alike."""
    for step in steps.values():
        for _ in range(10):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = time.perf_counter()
            step()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed repetitions of each")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(256, 784)
    target = torch.randn(256, 784)
    pred = x.clone().requires_grad_()
    loss = AdaptiveLoss(784)
    elementwise = AdaptiveLoss(784, reduction="none")
    with torch.no_grad():  # mid-training state: alphas spread over the range
        loss.latent_alpha.copy_(torch.linspace(-6, 6, 784))
        elementwise.latent_alpha.copy_(loss.latent_alpha)
    alpha_latent = loss.latent_alpha.detach().clone().requires_grad_()

    def mse():
        pred.grad = None
        F.mse_loss(pred, target).backward()

    def adaptive():
        pred.grad = None
        loss.zero_grad()
        loss(pred - target).backward()

    def adaptive_elementwise():
        pred.grad = None
        elementwise.zero_grad()
        elementwise(pred - target).mean().backward()

    def reference():
        pred.grad = None
        alpha_latent.grad = None
        alpha = 0.001 + 1.998 * torch.sigmoid(alpha_latent)
        reference_like_nll(pred - target, alpha, loss.scale()).backward()

    steps = {
        "mse": mse,
        "AdaptiveLoss": adaptive,
        "AdaptiveLoss, elementwise": adaptive_elementwise,
        "reference-like NLL": reference,
    }
    medians = median_times(steps, args.repeats)
    t_mse = medians["mse"]
    print(
        f"256 x 784 float32, forward + backward, median of {args.repeats}, "
        f"{torch.get_num_threads()} thread(s)"
    )
    for name, t in medians.items():
        print(f"  {name:26s} {t * 1e3:8.3f} ms   {t / t_mse:5.2f}x mse")


if __name__ == "__main__":
    main()
