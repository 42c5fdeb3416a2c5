"""Forward + backward of AdaptiveLoss on a 256 x 784 float32 batch, against plain MSE.

Run:  OMP_NUM_THREADS=1 .venv/bin/python benchmarks/bench_adaptive_loss.py [--repeats 200]

Prints the median and the fastest time of each step and their ratios to MSE from the same run
(the machine may be shared: compare ratios, not absolute times), in the calling thread's CPU
time (``time.thread_time``) by default, which a busy machine's preemptions do not inflate;
``--clock wall`` measures wall time instead. The kernel and the steps run on this one thread.
The steps are measured round-robin in two rounds, each with its own MSE baseline: the fast
steps first, then the slow ones (fewer repeats), so that a 50 ms step does not sit between two
fast ones and skew them.
Rows:

- ``AdaptiveLoss``: reduction 'mean', the per-column path (`general.column_total`). On an
  x86-64 CPU with AVX2 and a C compiler it runs the fused kernel
  (`reprlab.losses.adaptive_kernel`: value and all gradients in one pass); the target is 3x.
- ``AdaptiveLoss, eager``: the same call with the kernel switched off (the per-column eager
  path that CUDA tensors and float64 take).
- ``AdaptiveLoss, elementwise``: reduction 'none' then ``.mean()``, i.e. the general
  elementwise Function every call with a per-element gradient takes.
- ``reference-like NLL``: the generic autograd formulation of the public reference (rho
  through pow/where with a clamped alpha, log Z from the table).
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
import torch.nn.functional as F

from reprlab.losses import AdaptiveLoss, adaptive_kernel, general, log_partition


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


def timings(steps: dict, repeats: int, clock=time.thread_time) -> dict[str, list[float]]:
    """Seconds per call of each step, measured round-robin so load hits all alike."""
    for step in steps.values():
        for _ in range(3):
            step()
    times: dict[str, list[float]] = {name: [] for name in steps}
    for _ in range(repeats):
        for name, step in steps.items():
            start = clock()
            step()
            times[name].append(clock() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="timed repetitions of each")
    parser.add_argument("--threads", type=int, default=1, help="torch intra-op threads")
    parser.add_argument(
        "--clock", choices=["cpu", "wall"], default="cpu", help="thread CPU time or wall time"
    )
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

    def adaptive_eager():
        general._USE_KERNEL = False
        try:
            adaptive()
        finally:
            general._USE_KERNEL = True

    def adaptive_elementwise():
        pred.grad = None
        elementwise.zero_grad()
        elementwise(pred - target).mean().backward()

    def reference():
        pred.grad = None
        alpha_latent.grad = None
        alpha = 0.001 + 1.998 * torch.sigmoid(alpha_latent)
        reference_like_nll(pred - target, alpha, loss.scale()).backward()

    rounds = [
        ({"mse": mse, "AdaptiveLoss": adaptive}, args.repeats),
        (
            {
                "mse": mse,
                "AdaptiveLoss, eager": adaptive_eager,
                "AdaptiveLoss, elementwise": adaptive_elementwise,
                "reference-like NLL": reference,
            },
            max(args.repeats // 10, 5),
        ),
    ]
    print(
        f"256 x 784 float32, forward + backward, {torch.get_num_threads()} thread(s), "
        f"{args.clock} time, kernel "
        f"{'on' if adaptive_kernel.kernel() is not None else 'unavailable'}"
    )
    print(f"  {'':26s} {'median':>9s} {'ratio':>7s} {'fastest':>9s} {'ratio':>7s}")
    for steps, repeats in rounds:
        clock = time.thread_time if args.clock == "cpu" else time.perf_counter
        times = timings(steps, repeats, clock)
        base_median = statistics.median(times["mse"])
        base_min = min(times["mse"])
        for name, values in times.items():
            if name == "mse" and steps is not rounds[0][0]:
                continue
            med, fastest = statistics.median(values), min(values)
            print(
                f"  {name:26s} {med * 1e3:6.3f} ms {med / base_median:6.2f}x "
                f"{fastest * 1e3:6.3f} ms {fastest / base_min:6.2f}x   ({repeats} calls)"
            )


if __name__ == "__main__":
    main()
