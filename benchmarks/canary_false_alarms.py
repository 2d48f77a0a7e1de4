"""False incidents of the hourly canary on an unchanged model, over 30 simulated days.

Replays ``--days`` days of hourly canaries (after the ``--warmup``-run warm-up that builds the
baseline) for every model of the shipped canaryflow.toml on the simulator's *baseline* scenario,
whose natural noise (2 % of replies take an alternative, still-correct wording) makes outputs
vary from run to run. Nothing changes, so every incident is a false one. Replies come from the
simulator's in-process decision core (same rules, seed, noise and scenarios as the HTTP
simulator; see tests/runs/canary_sim_fake.py, whose parity with the HTTP simulator is tested),
so the figures measure the engine (probing, checks, store, detection, reports), not HTTP.

Prints the false-incident and alert counts, the wall time, and the time per hourly run (all
models) and per model run. Usage::

    python benchmarks/canary_false_alarms.py [--days 30] [--seed 0] [--warmup 24] [--keep DIR]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "runs"))

from canary_env import write_config  # noqa: E402
from canary_sim_fake import sim_client_factory  # noqa: E402

from canaryflow.config import load_config  # noqa: E402
from canaryflow.runs import Workspace, backfill_canary  # noqa: E402
from canaryflow.simulator import SimulatorCore  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=30, help="monitored days after the warm-up")
    ap.add_argument("--seed", type=int, default=0, help="simulator seed")
    ap.add_argument("--warmup", type=int, default=24, help="warm-up runs (alerts.warmup_runs)")
    ap.add_argument("--keep", type=Path, default=None, help="keep the store and reports here")
    args = ap.parse_args()

    with tempfile.TemporaryDirectory(prefix="canary-false-alarms-") as scratch:
        project = args.keep or Path(scratch)
        project.mkdir(parents=True, exist_ok=True)
        cfg = load_config(write_config(project, seed=args.seed, warmup_runs=args.warmup))
        core = SimulatorCore(seed=cfg.simulator.seed, noise=cfg.simulator.noise)
        ws = Workspace(cfg, client_factory=sim_client_factory(core))
        models = list(cfg.models)
        monitored = args.days * 24
        total = args.warmup + monitored

        per_hour: list[float] = []
        alerts: Counter[str] = Counter()
        opened: list[str] = []
        last = time.perf_counter()

        def on_run(i: int, outcomes: list) -> None:  # type: ignore[type-arg]
            nonlocal last
            now = time.perf_counter()
            per_hour.append(now - last)
            last = now
            for o in outcomes:
                alerts.update(f"{a.metric_class}:{a.subject}" for a in o.evaluation.alerts)
                opened.extend(
                    f"{c.incident.incident_id} at {o.run.as_of:%Y-%m-%d %H:%M}"
                    for c in o.incidents
                    if c.action == "opened"
                )
            if (i + 1) % 168 == 0 or i + 1 == total:
                print(f"  {i + 1}/{total} hourly runs, {now - start:.0f} s", flush=True)

        print(
            f"replaying {args.warmup} warm-up + {monitored} monitored hourly runs "
            f"({args.days} days) x {len(models)} models ({', '.join(models)}), "
            f"simulator seed {args.seed}, baseline scenario, noise {cfg.simulator.noise:g}"
        )
        start = time.perf_counter()
        last = start
        backfill_canary(ws, runs=total, end=datetime(2024, 5, 1, tzinfo=UTC), on_run=on_run)
        wall = time.perf_counter() - start

        incidents = ws.store.list_incidents(flow="canary")
        mon = per_hour[args.warmup :] or per_hour
        print()
        print(f"false incidents over {args.days} days: {len(incidents)}")
        for line in opened:
            print(f"  opened {line}")
        print(f"alerts: {sum(alerts.values())} {dict(alerts) if alerts else ''}".rstrip())
        print(f"noisy replies: {core.counts['noisy']} of {core.counts['requests']} calls")
        print(f"wall time: {wall:.1f} s for {total} hourly runs ({total * len(models)} model runs)")
        print(
            f"per hourly run ({len(models)} models): mean {statistics.mean(per_hour):.3f} s, "
            f"median {statistics.median(per_hour):.3f} s, max {max(per_hour):.3f} s; "
            f"monitored runs only: mean {statistics.mean(mon):.3f} s"
        )
        print(f"per model run: mean {wall / (total * len(models)):.3f} s")
        if args.keep:
            print(f"store and reports kept in {project}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
