"""In control: a week of hourly canaries on the baseline scenario opens no incident.

The simulator's natural noise (2 % of replies take an alternative, still-correct wording) makes
outputs vary from run to run as a real model's do at temperature 0; the pass-rate tests, the
Bernoulli CUSUMs and the fingerprint test must all stay quiet. Replies come from the simulator's
in-process core (``canaryflow.simulator.testing``) so 2 x 192 runs take seconds, not minutes; the production
warm-up (24 runs) builds the baseline. ``benchmarks/canary_false_alarms.py`` runs 30 days.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from canary_env import T0, write_config

from canaryflow.config import load_config
from canaryflow.runs import Workspace, backfill_canary
from canaryflow.simulator import SimulatorCore
from canaryflow.simulator.testing import sim_client_factory

SEED = 7300
DAYS = 7


def test_seven_days_on_the_baseline_scenario_open_no_incident(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, seed=SEED, warmup_runs=24))
    core = SimulatorCore(seed=cfg.simulator.seed, noise=cfg.simulator.noise)
    ws = Workspace(cfg, client_factory=sim_client_factory(core))
    monitor_runs = DAYS * 24
    phases: Counter[str] = Counter()
    alerts: list[str] = []
    changed = 0

    def on_run(_: int, outcomes: list) -> None:  # type: ignore[type-arg]
        nonlocal changed
        for o in outcomes:
            phases[o.summary["phase"]] += 1
            alerts.extend(f"{o.run.run_id}: {a.message}" for a in o.evaluation.alerts)
            if o.evaluation.fingerprint is not None:
                changed += len(o.evaluation.fingerprint.probes_changed)

    t0 = time.perf_counter()
    backfill_canary(ws, runs=cfg.alerts.warmup_runs + monitor_runs, end=T0, on_run=on_run)
    took = time.perf_counter() - t0

    incidents = ws.store.list_incidents(flow="canary")
    print(
        f"in control: {monitor_runs} monitored runs x {len(cfg.models)} models after a "
        f"{cfg.alerts.warmup_runs}-run warm-up: {len(incidents)} incident(s), {len(alerts)} "
        f"alert(s), {core.counts['noisy']} noisy replies, {changed} probe-level output "
        f"changes; {took:.1f} s"
    )
    assert phases == {"warmup": 24 * len(cfg.models), "monitor": monitor_runs * len(cfg.models)}
    assert core.counts["noisy"] > 100  # the noise was there ...
    assert changed > 0  # ... and moved individual probes' outputs
    assert incidents == [], [i.title for i in incidents]
    assert alerts == []
    statuses = Counter(r.status for r in ws.store.list_runs("canary"))
    assert statuses == {"completed": (24 + monitor_runs) * len(cfg.models)}
