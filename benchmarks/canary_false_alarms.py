"""False incidents of the hourly canary on an unchanged model with flaky probes, per model-month.

Replays ``--days`` days of hourly canaries (after the ``--warmup``-run warm-up that builds the
baseline) for every model of the shipped canaryflow.toml on the simulator's ``flaky_probes``
scenario: an unchanged model whose failures are *correlated*, as at temperature 0 -- a seeded
share of probes is flaky and, in the runs where it fails, fails all its repetitions together;
a few probes fail at a steady rate, so the baseline pass rate is below 100 %; on top, 2 % of
replies take an alternative, still-correct wording. Nothing changes, so every incident is a
false one. Replies come from the simulator's in-process core
(``canaryflow.simulator.testing``; same rules, seed, noise and scenarios as the HTTP simulator)
so the figures measure the engine, not HTTP.

Prints, per model-month (720 hourly runs of one model) and for the whole system (every family x
every model), the false incidents and pass-rate alerts of the engine's statistics (probe-run
unit, CUSUM calibrated for an estimated baseline) and, replayed on the very same runs, of the
previous statistics that counted every repetition as an independent trial; plus the wall time.
Usage::

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
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "runs"))

from canary_env import NaiveReplay, write_config  # noqa: E402

from canaryflow.config import load_config  # noqa: E402
from canaryflow.runs import Workspace, backfill_canary  # noqa: E402
from canaryflow.simulator import SimulatorCore  # noqa: E402
from canaryflow.simulator.testing import sim_client_factory  # noqa: E402

HOURS_PER_MONTH = 720


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
        core = SimulatorCore(
            seed=cfg.simulator.seed, noise=cfg.simulator.noise, scenario="flaky_probes"
        )
        ws = Workspace(cfg, client_factory=sim_client_factory(core))
        a = cfg.alerts
        naive = NaiveReplay(a.fdr_q, a.min_detectable_drop, a.bernoulli_cusum_arl0_runs)
        models = list(cfg.models)
        monitored = args.days * 24
        total = args.warmup + monitored

        per_hour: list[float] = []
        alerts: Counter[str] = Counter()
        opened: list[str] = []
        families: set[tuple[str, str]] = set()
        base_rates: dict[str, list[str]] = {}
        naive_baselines: dict[str, dict[str, Any]] = {}
        last = time.perf_counter()

        def on_run(i: int, outcomes: list) -> None:  # type: ignore[type-arg]
            nonlocal last
            now = time.perf_counter()
            per_hour.append(now - last)
            last = now
            for o in outcomes:
                ev = o.evaluation
                alerts.update(f"{al.test.split('(')[0]}:{al.subject}" for al in ev.alerts)
                opened.extend(
                    f"{c.incident.incident_id} at {o.run.as_of:%Y-%m-%d %H:%M}"
                    for c in o.incidents
                    if c.action == "opened"
                )
                if ev.phase != "monitor":
                    continue
                model = o.run.model
                families.update((model, f.family) for f in ev.families)
                if model not in naive_baselines:
                    bl = {
                        b.subject: b.stats
                        for b in ws.store.list_baselines(flow="canary", model=model)
                        if b.metric == "pass_rate"
                    }
                    naive_baselines[model] = bl
                    base_rates[model] = [
                        f"{fam} {st['probe_run_successes']}/{st['probe_run_trials']}"
                        for fam, st in sorted(bl.items())
                        if st["probe_run_successes"] < st["probe_run_trials"]
                    ]
                naive.feed(model, naive_baselines[model], ws.store.items_for_runs([o.run.run_id]))
            if (i + 1) % 168 == 0 or i + 1 == total:
                print(f"  {i + 1}/{total} hourly runs, {now - start:.0f} s", flush=True)

        print(
            f"replaying {args.warmup} warm-up + {monitored} monitored hourly runs "
            f"({args.days} days) x {len(models)} models ({', '.join(models)}), "
            f"simulator seed {args.seed}, scenario flaky_probes {core.params}, "
            f"noise {cfg.simulator.noise:g}"
        )
        start = time.perf_counter()
        last = start
        backfill_canary(ws, runs=total, end=datetime(2024, 5, 1, tzinfo=UTC), on_run=on_run)
        wall = time.perf_counter() - start

        incidents = ws.store.list_incidents(flow="canary")
        model_months = monitored * len(models) / HOURS_PER_MONTH
        n_fam = len(families)
        new_pass = sum(
            v for k, v in alerts.items() if k.startswith(("fisher_one_sided+BH", "bernoulli_cusum"))
        )
        claim_fisher = a.fdr_q * HOURS_PER_MONTH
        claim_cusum = n_fam / len(models) * HOURS_PER_MONTH / a.bernoulli_cusum_arl0_runs
        mon = per_hour[args.warmup :] or per_hour
        print()
        print("baseline pass rates below 100 % (probe-runs):")
        for model, rates in base_rates.items():
            print(f"  {model}: {', '.join(rates) or '-'}")
        print(
            f"flaky failures injected: {core.counts['flaky_failures']} of "
            f"{core.counts['requests']} calls"
        )
        print(
            f"monitored: {monitored} hourly runs x {len(models)} models = {model_months:g} "
            f"model-months, {n_fam} family charts (all families x models)"
        )
        print()
        print("AFTER (probe-run unit, calibrated CUSUM; the engine):")
        print(
            f"  false incidents: {len(incidents)} = {len(incidents) / model_months:.2f} per "
            f"model-month, {len(incidents) / model_months * len(models):.2f} per system-month"
        )
        for line in opened:
            print(f"    opened {line}")
        print(f"  alerts: {sum(alerts.values())} {dict(alerts) if alerts else ''}".rstrip())
        print(
            f"  claim per model-month: <= {claim_fisher:.2f} (Fisher+BH, q={a.fdr_q:g} per run) + "
            f"{claim_cusum:.2f} (CUSUM, ARL0 {a.bernoulli_cusum_arl0_runs:g} runs x "
            f"{n_fam / len(models):g} families) = {claim_fisher + claim_cusum:.2f}"
        )
        print("BEFORE (every repetition an independent trial), replayed on the same runs:")
        print(
            f"  pass-rate alarms: Fisher+BH {naive.fisher}, CUSUM {naive.cusum}; runs with an "
            f"alarm {naive.runs_with_alarm} = {naive.runs_with_alarm / model_months:.2f} per "
            f"model-month ({naive.runs_with_alarm / (monitored * len(models)):.2%} of runs)"
        )
        print(f"  engine pass-rate alerts after: {new_pass}")
        print()
        print(f"wall time: {wall:.1f} s for {total} hourly runs ({total * len(models)} model runs)")
        print(
            f"per hourly run ({len(models)} models): mean {statistics.mean(per_hour):.3f} s, "
            f"median {statistics.median(per_hour):.3f} s, max {max(per_hour):.3f} s; "
            f"monitored runs only: mean {statistics.mean(mon):.3f} s"
        )
        if args.keep:
            print(f"store and reports kept in {project}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
