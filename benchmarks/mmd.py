"""Time the MMD permutation test and print quick size/power figures.

One BLAS thread (set before numpy is imported). Times ``mmd_test`` at n = m = 500, d = 384,
B = 1,000 (DESIGN §9 target: < 0.5 s on one core), then FPR under no drift and power for the
"10 % new style" shift with the topic-cluster generator of statistics.md §6.7, and alibi-detect's
MMDDrift on the same data when it is importable.
Usage: ``python benchmarks/mmd.py [--quick] [--seed N]``.
"""

from __future__ import annotations

import os

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import argparse  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402

from canaryflow.embeddings import TopicClusters  # noqa: E402
from canaryflow.stats import mmd_test  # noqa: E402


def timing(gen: TopicClusters, rng: np.random.Generator, n: int, b: int, repeats: int) -> float:
    """Best wall time of ``repeats`` calls of mmd_test at n = m."""
    x, y = gen.sample(n, rng), gen.sample(n, rng)
    best = float("inf")
    for _ in range(repeats):
        t = time.perf_counter()
        mmd_test(x, y, permutations=b, rng=rng)
        best = min(best, time.perf_counter() - t)
    return best


def rejection_rate(gen, rng, n: int, reps: int, new_style: float, b: int = 500) -> float:
    """Share of reps with p < 0.05."""
    hits = sum(
        mmd_test(gen.sample(n, rng), gen.sample(n, rng, new_style), permutations=b,
                 alpha=0.05, rng=rng).drift
        for _ in range(reps)
    )  # fmt: skip
    return hits / reps


def alibi(x: np.ndarray, y: np.ndarray) -> None:
    """alibi-detect MMDDrift on the same data, if installed."""
    try:
        from alibi_detect.cd import MMDDrift
    except ImportError:
        print("alibi-detect not installed")
        return
    det = MMDDrift(x.astype(np.float32), backend="pytorch", p_val=0.05, n_permutations=1000)
    t = time.perf_counter()
    out = det.predict(y.astype(np.float32))
    print(f"alibi-detect MMDDrift (B=1000): {time.perf_counter() - t:.2f} s, "
          f"p = {out['data']['p_val']:.4f}")  # fmt: skip


def main() -> None:
    """Print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    parser.add_argument("--seed", type=int, default=20240611)
    args = parser.parse_args()
    rng = np.random.default_rng(args.seed)
    gen = TopicClusters(np.random.default_rng(args.seed))
    print("mmd_test timing, one BLAS thread, d = 384, B = 1000 (best of 3):")
    for n in (100, 200, 500) if args.quick else (100, 200, 500, 1000):
        print(f"  n = m = {n:5d}: {1000 * timing(gen, rng, n, 1000, 3):7.1f} ms")
    reps_h0, reps_h1 = (200, 50) if args.quick else (1000, 300)
    print(f"\nFPR at alpha 0.05 under no drift (B = 500, {reps_h0} reps); "
          f"power for '10 % new style' ({reps_h1} reps):")  # fmt: skip
    for n in (100, 200, 500):
        fpr = rejection_rate(gen, rng, n, reps_h0, 0.0)
        power = rejection_rate(gen, rng, n, reps_h1, 0.10)
        print(f"  n = m = {n}: FPR {fpr:.3f}   power {power:.2f}")
    x, y = gen.sample(500, rng), gen.sample(500, rng, 0.10)
    res = mmd_test(x, y, permutations=1000, rng=rng)
    print(f"\ncanaryflow on the alibi data (n = m = 500, 10 % new style): MMD2 {res.mmd2:.6f}, "
          f"p = {res.p_value:.4f}, bandwidth {res.bandwidth:.4f}")  # fmt: skip
    alibi(x, y)


if __name__ == "__main__":
    main()
