"""Compute the table behind `reprlab.losses.log_partition` by numerical integration.

Z(alpha) = int exp(-rho(x, alpha, 1)) dx over the real line (Barron, CVPR 2019, Eq. 16-17),
for alpha in [0, inf]. For each knot we integrate Z and d log Z / d alpha =
-E[d rho / d alpha] with scipy's adaptive quadrature (QUADPACK) in float64, and store
log Z and its derivative on the axis u = alpha / (1 + alpha) in [0, 1] (u = 1 is alpha = inf).
log Z behaves like (alpha - 2) log|alpha - 2| near alpha = 2 (its derivative diverges there),
so the knots grade geometrically towards 2 and the two intervals that touch 2 are linear.
The script then checks the cubic Hermite interpolant against fresh quadrature between knots.

Run:  .venv/bin/python scripts/make_partition_table.py  (about a minute; writes
src/reprlab/losses/partition_table.npz)
"""

from __future__ import annotations

import argparse
import math
import sys
import warnings
from pathlib import Path

import numpy as np
from scipy import integrate

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "src"))

from reprlab.atomic import atomic_path  # noqa: E402

OUT = ROOT / "src" / "reprlab" / "losses" / "partition_table.npz"
PUBLISHED = [0.5, 1.0, 1.5, 3.0, 4.0, 8.0]


def rho(x: float, a: float) -> float:
    """rho(x, alpha, 1) in float64 (alpha >= 0; +inf allowed)."""
    if a == math.inf:
        return math.expm1(0.5 * x * x) if x * x < 1400 else math.inf
    if a == 2:
        return 0.5 * x * x
    b = abs(a - 2)
    L = math.log1p(x * x / b)
    y = 0.5 * a * L
    if abs(y) < 1e-8:
        return 0.5 * b * L * (1 + y / 2 + y * y / 6)
    return b / a * math.expm1(y) if y < 700 else math.inf


def drho_dalpha(x: float, a: float) -> float:
    """d rho / d alpha at (x, alpha, 1), alpha finite, not 2 (Barron 2019; see general.py)."""
    b = abs(a - 2)
    s = math.copysign(1.0, a - 2)
    q = x * x / b
    L = math.log1p(q)
    w = q / (1 + q)
    y = 0.5 * a * L
    if abs(a) < 1e-3:  # series in alpha of d/da [(b L / 2) expm1(y) / y]
        r = 1 + y / 2 + y * y / 6 + y**3 / 24
        rp = 0.5 + y / 3 + y * y / 8 + y**3 / 30
        return 0.5 * s * r * (L - w) + 0.25 * b * L * rp * (L - a * s / b * w)
    if y > 700:  # exp(-rho) underflows long before: the integrand is 0 here
        return 0.0
    e = math.exp(y)
    p = e / (1 + q)
    return b / (2 * a) * e * L - b * (2 + a) / (2 * a * a) * math.expm1(y) + 0.5 * s * (p - 1)


def _quad(f) -> float:
    # The integrand is even: twice the half line. Split at 1 and 10 to help the quadrature.
    # The tolerances ask for all of float64; QUADPACK warns when it gets within roundoff.
    total = 0.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", integrate.IntegrationWarning)
        for lo, hi in [(0.0, 1.0), (1.0, 10.0), (10.0, math.inf)]:
            value, _ = integrate.quad(f, lo, hi, epsabs=1e-15, epsrel=1e-14, limit=500)
            total += value
    return 2 * total


def log_z(a: float) -> float:
    return math.log(_quad(lambda x: math.exp(-rho(x, a))))


def dlog_z(a: float) -> float:
    """d log Z / d alpha = -E[d rho / d alpha] (finite alpha != 2)."""
    z = _quad(lambda x: math.exp(-rho(x, a)))
    return -_quad(lambda x: drho_dalpha(x, a) * math.exp(-rho(x, a))) / z


def knots() -> np.ndarray:
    ratio = 1.04
    near_two = 0.6 * ratio ** -np.arange(0, int(math.log(0.6 / 1e-9) / math.log(ratio)) + 1)
    low = np.linspace(0.0, 1.4, 141)
    high_u = np.linspace(2.6 / 3.6, 1.0, 301)[:-1]  # alpha from 2.6 to inf on u
    alphas = np.concatenate(
        [low, 2 - near_two, [2.0], 2 + near_two, high_u / (1 - high_u), PUBLISHED]
    )
    alphas = np.unique(np.round(alphas, 15))
    return np.concatenate([alphas, [math.inf]])


def dlog_z_du_at_infinity() -> float:
    """lim d log Z / du at u = 1: (1 + alpha)^2 d log Z / d alpha, Richardson-extrapolated."""
    g1 = (1 + 1e4) ** 2 * dlog_z(1e4)
    g2 = (1 + 2e4) ** 2 * dlog_z(2e4)
    return 2 * g2 - g1  # the limit is approached like C + D / alpha


def hermite(u0, u1, f0, f1, d0, d1, u):
    h = u1 - u0
    t = (u - u0) / h
    h00 = (1 + 2 * t) * (1 - t) ** 2
    h10 = t * (1 - t) ** 2
    h01 = t * t * (3 - 2 * t)
    h11 = t * t * (t - 1)
    return h00 * f0 + h10 * h * d0 + h01 * f1 + h11 * h * d1


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=OUT, help="where to write the .npz table")
    parser.add_argument("--checks", type=int, default=200, help="off-knot points to verify")
    args = parser.parse_args(argv)

    alphas = knots()
    u = np.where(np.isinf(alphas), 1.0, alphas / (1 + np.where(np.isinf(alphas), 0, alphas)))
    f = np.array([log_z(a) for a in alphas])
    du = np.empty_like(f)
    for i, a in enumerate(alphas):
        if math.isinf(a):
            du[i] = dlog_z_du_at_infinity()
        elif a == 2:
            du[i] = math.nan  # unbounded; the neighbouring intervals are linear
        else:
            du[i] = dlog_z(a) * (1 + a) ** 2
    d_left = du[:-1].copy()  # derivative used at each interval's left end
    d_right = du[1:].copy()
    secant = np.diff(f) / np.diff(u)
    two = int(np.flatnonzero(alphas == 2)[0])
    for i in (two - 1, two):  # the intervals touching alpha = 2 are linear
        d_left[i] = d_right[i] = secant[i]

    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(u) - 2, size=args.checks)
    worst = 0.0
    for i in idx:
        t = rng.uniform(0.1, 0.9)
        uu = u[i] + t * (u[i + 1] - u[i])
        a = uu / (1 - uu)
        approx = hermite(u[i], u[i + 1], f[i], f[i + 1], d_left[i], d_right[i], uu)
        worst = max(worst, abs(approx - log_z(a)))
    print(
        f"{len(u)} knots; max |interpolation error| at {args.checks} off-knot points: {worst:.2e}"
    )
    with atomic_path(args.out) as tmp:
        with open(tmp, "wb") as fh:
            np.savez(fh, u=u, log_z=f, d_left=d_left, d_right=d_right, alpha=alphas)
    print(f"wrote {args.out}")
    return 0 if worst < 1e-7 else 1


if __name__ == "__main__":
    sys.exit(main())
