"""Print the ARL table of the shipped charts beside the published one.

For each design: published (Lucas & Saccucci 1990; Lucas & Crosier 1982), the integral-equation
value of ``canaryflow.stats.ewma_arl`` / ``cusum_arl``, and Monte Carlo of the shipped chart
classes (time-varying limits; ARL0 zero-state, ARL1 with the shift at observation 100 and runs
that alarmed earlier discarded). Usage: ``python benchmarks/spc.py [--quick] [--seed N]``.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from canaryflow.stats import CUSUMChart, EWMAChart, cusum_arl, ewma_arl, simulate_run_lengths

SHIFTS = (0.0, 0.5, 1.0, 2.0, 3.0)
TAU = 100
DESIGNS = [
    ("EWMA lam 0.05, L 2.615", lambda: EWMAChart(0, 1, lam=0.05, L=2.615),
     lambda d: ewma_arl(0.05, 2.615, d), (500, 28.8, 11.4, 5.2, 3.5)),
    ("EWMA lam 0.10, L 2.814", lambda: EWMAChart(0, 1, lam=0.1, L=2.814),
     lambda d: ewma_arl(0.1, 2.814, d), (500, 31.3, 10.3, 4.4, 2.9)),
    ("EWMA lam 0.20, L 2.962", lambda: EWMAChart(0, 1, lam=0.2, L=2.962),
     lambda d: ewma_arl(0.2, 2.962, d), (500, 41.8, 10.5, 3.7, 2.4)),
    ("CUSUM k 0.5, h 4", lambda: CUSUMChart(0, 1, k=0.5, h=4.0),
     lambda d: cusum_arl(0.5, 4.0, d), (168, 26.6, 8.38, 3.34, 2.19)),
    ("CUSUM k 0.5, h 5", lambda: CUSUMChart(0, 1, k=0.5, h=5.0),
     lambda d: cusum_arl(0.5, 5.0, d), (465, 38.0, 10.4, 4.01, 2.57)),
]  # fmt: skip


def monte_carlo(chart, shift: float, runs: int, rng: np.random.Generator, tau: int = TAU) -> float:
    """ARL0 (zero-state) or ARL1 with the shift at ``tau``, pre-``tau`` alarms discarded."""
    if shift == 0 or tau == 1:
        rl = simulate_run_lengths(chart, runs, rng=rng, shift=shift, max_len=50_000)
        return float(rl.mean())
    rl = simulate_run_lengths(chart, runs, rng=rng, shift=shift, change_at=tau, max_len=5_000)
    kept = rl[rl >= tau]
    return float((kept - tau + 1).mean())


def main() -> None:
    """Print the table."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="2,000 runs instead of 20,000")
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args()
    runs = 2_000 if args.quick else 20_000
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    head = " | ".join(f"d={d:<4}" for d in SHIFTS)
    print(f"ARL of two-sided charts. IE: integral equation, fixed limits, zero-state. MC: {runs}")
    print("runs of the shipped chart classes (EWMA with exact time-varying limits), zero-state")
    print(f"and with the shift at t = {TAU} (earlier alarms discarded). Seed {args.seed}.\n")
    print(f"| {'design':<24} | {'source':<14} | {head} |")
    print(f"|{'-' * 26}|{'-' * 16}|" + "|".join(["-" * 8] * len(SHIFTS)) + "|")
    for name, make, ie, published in DESIGNS:
        rows = {
            "published": published,
            "IE (fixed)": tuple(ie(d) for d in SHIFTS),
            "MC zero-state": tuple(monte_carlo(make(), d, runs, rng, tau=1) for d in SHIFTS),
            f"MC t={TAU}": (float("nan"),)
            + tuple(monte_carlo(make(), d, runs, rng) for d in SHIFTS[1:]),
        }
        for i, (source, vals) in enumerate(rows.items()):
            cells = " | ".join("-     " if np.isnan(v) else f"{v:<6.4g}" for v in vals)
            print(f"| {name if i == 0 else '':<24} | {source:<14} | {cells} |")
    print(f"\n({time.perf_counter() - start:.1f} s)")


if __name__ == "__main__":
    main()
