"""In control: a week of hourly canaries on an unchanged model with flaky probes opens no incident.

The simulator's ``flaky_probes`` scenario is an unchanged model with the failures a real one
has at temperature 0: a seeded share of probes is flaky and, in the runs where it fails, fails
all its repetitions together; a few probes fail at a steady rate, so the baseline pass rate is
below 100 %; 2 % of replies also take an alternative, still-correct wording. The pass-rate
tests (probe-run unit), the calibrated Bernoulli CUSUMs and the fingerprint test must stay
within their stated false-alarm rate: 0.001 per run for Fisher + BH and one per 8,760 runs per
family chart, i.e. at most 0.72 expected false alarms over these 2 x 168 monitored runs, so
this seed's zero is the claim's most likely outcome. Replayed on the very same runs, the
previous statistics (every repetition an independent trial) exceed that claim: the regression
this guards. Replies come from the simulator's in-process core
(``canaryflow.simulator.testing``); ``benchmarks/canary_false_alarms.py`` runs 30 days.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path
from typing import Any

from canary_env import T0, NaiveReplay, write_config

from canaryflow.config import load_config
from canaryflow.runs import Workspace, backfill_canary
from canaryflow.simulator import SimulatorCore
from canaryflow.simulator.testing import sim_client_factory

SEED = 7300
DAYS = 7


def test_a_week_with_flaky_probes_opens_no_incident_where_repetition_counting_would(
    tmp_path: Path,
) -> None:
    cfg = load_config(write_config(tmp_path, seed=SEED, warmup_runs=24))
    core = SimulatorCore(
        seed=cfg.simulator.seed, noise=cfg.simulator.noise, scenario="flaky_probes"
    )
    ws = Workspace(cfg, client_factory=sim_client_factory(core))
    a = cfg.alerts
    naive = NaiveReplay(a.fdr_q, a.min_detectable_drop, a.bernoulli_cusum_arl0_runs)
    naive_base: dict[str, dict[str, Any]] = {}
    monitor_runs = DAYS * 24
    phases: Counter[str] = Counter()
    alerts: list[str] = []
    families = 0
    changed = 0

    def on_run(_: int, outcomes: list) -> None:  # type: ignore[type-arg]
        nonlocal changed, families
        for o in outcomes:
            phases[o.summary["phase"]] += 1
            alerts.extend(f"{o.run.run_id}: {al.message}" for al in o.evaluation.alerts)
            if o.evaluation.fingerprint is not None:
                changed += len(o.evaluation.fingerprint.probes_changed)
            if o.summary["phase"] != "monitor":
                continue
            model = o.run.model
            if model not in naive_base:
                naive_base[model] = {
                    b.subject: b.stats
                    for b in ws.store.list_baselines(flow="canary", model=model)
                    if b.metric == "pass_rate"
                }
                families += len(naive_base[model])
            naive.feed(model, naive_base[model], ws.store.items_for_runs([o.run.run_id]))

    t0 = time.perf_counter()
    warmup = cfg.alerts.for_flow("canary").warmup_runs
    backfill_canary(ws, runs=warmup + monitor_runs, end=T0, on_run=on_run)
    took = time.perf_counter() - t0

    incidents = ws.store.list_incidents(flow="canary")
    n_models = len(cfg.canary.models or cfg.models)  # the models the canary watches
    model_runs = monitor_runs * n_models
    claim = a.fdr_q * model_runs + families * monitor_runs / a.bernoulli_cusum_arl0_runs
    imperfect = sorted(
        f"{m}/{fam} {st['probe_run_successes']}/{st['probe_run_trials']}"
        for m, fams in naive_base.items()
        for fam, st in fams.items()
        if st["probe_run_successes"] < st["probe_run_trials"]
    )
    print(
        f"in control with flaky probes: {monitor_runs} monitored runs x {n_models} models "
        f"after a {warmup}-run warm-up: {len(incidents)} incident(s), "
        f"{len(alerts)} alert(s) (claim <= {claim:.2f} expected); previous statistics on the "
        f"same runs: {naive.fisher} Fisher+BH and {naive.cusum} CUSUM alarms in "
        f"{naive.runs_with_alarm} runs; {core.counts['flaky_failures']} flaky failures, "
        f"{core.counts['noisy']} noisy replies; baseline below 100 %: {imperfect}; {took:.1f} s"
    )
    assert phases == {"warmup": 24 * n_models, "monitor": model_runs}
    assert core.counts["flaky_failures"] > 100  # the correlated failures were there ...
    assert len(imperfect) >= 3  # ... the baseline pass rate is below 100 % ...
    assert changed > 0  # ... and outputs moved from run to run
    assert incidents == [], [i.title for i in incidents]
    assert alerts == []
    assert naive.runs_with_alarm > 2 * claim  # repetition counting breaks the claim here
    statuses = Counter(r.status for r in ws.store.list_runs("canary"))
    assert statuses == {"completed": (24 + monitor_runs) * n_models}
