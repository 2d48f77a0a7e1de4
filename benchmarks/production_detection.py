"""Production detection on generated traffic: delay per injected change, false incidents per
in-control day.

One seeded traffic of ``--days`` days (default 21): the first ``--baseline-days`` (default 7)
build the baseline (hourly backfill runs, ``warmup_runs = 24 x baseline days``), the next
``--control-days`` (default 7) are monitored with no change (false incidents), then the six
changes of the issue come one per day, each active for 12 hours from mid-day, on the features
and classes the test checks (tests/production/test_production_detection.py). The whole thing
is ``canaryflow backfill production`` in one process, judging against the bundled simulator.

Prints, per change, the delay from its onset to the first incident opened on its subject and
class (the target: within 6 hours), and false incidents per in-control day (target: 0 on 7
days), plus the wall time of the backfill.

    python benchmarks/production_detection.py [--days 21 --baseline-days 7 --control-days 7]
        [--rate 20] [--seed 3] [--dir /tmp/cf-prod-detect]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "production"))

from prodflow_env import START, opened, project  # noqa: E402

from canaryflow.production.generator import Change  # noqa: E402
from canaryflow.runs.production import backfill_production  # noqa: E402

CHAT, EXTRACT, SUMMARY = (
    "support-chat/claude-sonnet-4",
    "doc-extract/gpt-4o-mini",
    "summarize/claude-haiku-4",
)
SIX = [
    ("ttft_regression", "support-chat", 3.0, {(CHAT, "latency")}),
    ("refusal_spike", "doc-extract", 0.15, {(EXTRACT, "quality")}),
    ("verbose_drift", "summarize", 3.0, {(SUMMARY, "drift")}),
    ("topic_shift", "support-chat", 3.0, {(CHAT, "drift")}),
    ("correctness_drop", "doc-extract", 0.6, {(EXTRACT, "correctness")}),
    ("cost_spike", None, 3.0, {("user:user-spender", "cost"), (CHAT, "cost")}),
]


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--days", type=int, default=21)
    ap.add_argument("--baseline-days", type=int, default=7)
    ap.add_argument("--control-days", type=int, default=7)
    ap.add_argument("--rate", type=float, default=20.0)
    ap.add_argument("--seed", type=int, default=3)
    ap.add_argument("--dir", default=None)
    args = ap.parse_args()
    first_change_day = args.baseline_days + args.control_days
    if args.days < first_change_day + len(SIX):
        ap.error(f"--days must be >= {first_change_day + len(SIX)}")
    changes = []
    for i, (kind, feature, mag, _) in enumerate(SIX):
        onset = START + timedelta(days=first_change_day + i, hours=12)
        changes.append(
            Change(kind, onset, feature, mag, end=onset + timedelta(hours=12))  # type: ignore[arg-type]
        )
    root = Path(args.dir or tempfile.mkdtemp(prefix="cf-prod-detect-"))
    ws = project(
        root,
        days=args.days,
        rate=args.rate,
        changes=changes,
        warmup=24 * args.baseline_days,
        seed=args.seed,
    )
    t0 = time.perf_counter()
    outcomes = backfill_production(ws, START, START + timedelta(days=args.days))
    wall = time.perf_counter() - t0
    incidents = opened(outcomes)
    print(
        f"{args.days} days at {args.rate:g} req/min, baseline {args.baseline_days} days "
        f"({24 * args.baseline_days} hourly runs), {len(outcomes)} runs in {wall:.0f} s"
    )
    print(f"{'change':<18} {'onset':<17} {'first incident':<17} delay")
    for ch, (kind, _, _, keys) in zip(changes, SIX, strict=True):
        hit = [t for t, s, k, _ in incidents if (s, k) in keys and t >= ch.start]
        first = hit[0] if hit else None
        delay = f"{(first - ch.start).total_seconds() / 3600:.2f} h" if first else "not caught"
        shown = f"{first:%m-%d %H:%M}" if first else "-"
        print(f"{kind:<18} {ch.start:%m-%d %H:%M}       {shown:<17} {delay}")
    lo = START + timedelta(days=args.baseline_days)
    hi = START + timedelta(days=first_change_day)
    false = [i for i in incidents if lo < i[0] <= hi]
    print(
        f"false incidents on {args.control_days} in-control days: {len(false)} "
        f"({len(false) / args.control_days:.2f} per day)"
    )
    for t, _s, _k, title in false:
        print(f"  {t:%m-%d %H:%M} {title}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
