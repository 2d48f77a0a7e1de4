"""The canary engine without Prefect: warm-up, baselines, idempotent reruns, degraded runs.

Most tests answer from the simulator's in-process core (``canaryflow.simulator.testing``): same
rules, noise and scenarios as the HTTP simulator, a few milliseconds per run. The degraded-run
test goes through the real simulator and SDKs.
"""

from __future__ import annotations

import json
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from canary_env import REPETITIONS, T0, write_config

from canaryflow.config import load_config
from canaryflow.providers import simulator_url
from canaryflow.runs import Workspace, run_canary
from canaryflow.runs._canary_detect import ALL
from canaryflow.simulator import SimulatorCore, set_scenario
from canaryflow.simulator.testing import sim_client_factory
from canaryflow.store import ChartKey

SEED = 7200
MODEL = "support-bot"
W = 12
"""Warm-up runs (the smallest canary baseline allowed)."""


def _fake_ws(path: Path) -> tuple[Workspace, SimulatorCore]:
    cfg = load_config(path)
    core = SimulatorCore(seed=cfg.simulator.seed, noise=cfg.simulator.noise)
    return Workspace(cfg, client_factory=sim_client_factory(core)), core


def _hour(ws: Workspace, hour: int):  # type: ignore[no-untyped-def]
    """One canary run of MODEL at T0 + ``hour`` hours."""
    (outcome,) = run_canary(ws, models=[MODEL], as_of=T0 + timedelta(hours=hour))
    return outcome


def test_warmup_runs_then_the_nth_freezes_the_baseline(tmp_path: Path) -> None:
    ws, _ = _fake_ws(write_config(tmp_path, seed=SEED + 1, warmup_runs=12))
    outcomes = [_hour(ws, h) for h in range(1, W + 2)]

    for i, o in enumerate(outcomes[:W], start=1):
        assert o.summary["phase"] == "warmup" and o.run.status == "completed"
        assert o.summary["warmup"] == f"{i}/{W}"
        assert not o.incidents and not o.evaluation.alerts
        frozen = any("baseline frozen" in n for n in o.evaluation.notes)
        assert frozen == (i == W), o.evaluation.notes
    baselines = ws.store.list_baselines("canary", MODEL)
    metrics = {(b.subject, b.metric) for b in baselines}
    assert ("dates_eu", "pass_rate") in metrics and (ALL, "fingerprint") in metrics
    warm_ids = tuple(o.run.run_id for o in outcomes[:W])
    for b in baselines:
        assert tuple(b.run_ids) == warm_ids
        assert b.window_end == T0 + timedelta(hours=W)
    fp = next(b for b in baselines if b.metric == "fingerprint")
    assert fp.n == W * REPETITIONS

    first_monitor = outcomes[W]
    assert first_monitor.summary["phase"] == "monitor"
    assert first_monitor.evaluation.fingerprint is not None
    assert not first_monitor.incidents
    # A baseline of 12 runs is small: the latency chart widens its limits and says so.
    assert any("m=12 runs (< 300)" in n for n in first_monitor.evaluation.notes)


def test_a_run_in_an_open_incident_never_enters_a_baseline(tmp_path: Path) -> None:
    path = write_config(
        tmp_path, seed=SEED + 2, warmup_runs=12, model_updates={MODEL: {"max_retries": 0}}
    )
    ws, core = _fake_ws(path)
    _hour(ws, 1)
    core.set_scenario("error_burst", rate=0.8, kinds="429,500", retry_after=0)
    bad = _hour(ws, 2)
    assert bad.run.status == "degraded" and bad.incidents
    (incident,) = ws.store.list_incidents(state="open", flow="canary", model=MODEL)
    assert bad.run.run_id in incident.run_ids

    # The hour is rerun after the burst and now completes -- but its run id is part of an
    # open incident, so it must not count towards the baseline.
    core.set_scenario("baseline")
    rerun = _hour(ws, 2)
    assert rerun.run.status == "completed" and rerun.summary["phase"] == "warmup"
    for h in range(3, W + 1):
        _hour(ws, h)
    assert not ws.store.list_baselines("canary", MODEL), "froze with a run of an open incident"
    _hour(ws, W + 1)
    baselines = ws.store.list_baselines("canary", MODEL)
    assert baselines
    for b in baselines:
        assert bad.run.run_id not in b.run_ids
        assert len(b.run_ids) == W


def test_rerunning_an_hour_is_idempotent(tmp_path: Path) -> None:
    ws, core = _fake_ws(write_config(tmp_path, seed=SEED + 3, warmup_runs=12))
    for h in range(1, W + 1):
        _hour(ws, h)
    core.set_scenario("date_transposition", rate=0.3)
    first = _hour(ws, W + 1)
    assert [c.action for c in first.incidents] == ["opened"]
    run_id = first.run.run_id
    (b,) = ws.store.list_baselines("canary", MODEL, subject="dates_eu", metric="pass_rate")
    key = ChartKey.of(b, "bernoulli_cusum")

    def snapshot() -> dict[str, object]:
        history = ws.store.chart_history(key)
        incidents = ws.store.list_incidents(flow="canary", model=MODEL)
        return {
            "items": len(ws.store.items_for_runs([run_id])),
            "runs": len(ws.store.list_runs("canary", MODEL)),
            "chart": json.dumps(ws.store.chart_state(key), sort_keys=True, default=str),
            "history": len(history),
            "applied": [h["run_id"] for h in history].count(run_id),
            "point": ws.store.chart_point(key, run_id),
            "incidents": [(i.incident_id, len(i.alerts), i.run_ids) for i in incidents],
            "alerts": len(ws.store.list_alerts(run_id=run_id)),
        }

    before = snapshot()
    assert before["items"] == REPETITIONS and before["applied"] == 1
    for _ in range(2):
        again = _hour(ws, W + 1)
        assert again.run.run_id == run_id
        assert snapshot() == before
        assert {c.incident.incident_id for c in again.incidents} <= {
            c.incident.incident_id for c in first.incidents
        }
    # The next hour is a new observation: applied once, incident updated, not duplicated.
    nxt = _hour(ws, W + 2)
    after = snapshot()
    assert after["history"] == before["history"] + 1
    assert len(after["incidents"]) == 1  # type: ignore[arg-type]
    assert [c.action for c in nxt.incidents] in ([], ["updated"])


def test_high_error_rate_marks_the_run_degraded_with_a_reliability_alert(tmp_path: Path) -> None:
    """Through the real simulator and SDKs: 60 % of calls fail with 429/500, no retries."""
    path = write_config(
        tmp_path, seed=SEED + 4, warmup_runs=12, model_updates={MODEL: {"max_retries": 0}}
    )
    ws = Workspace(load_config(path))
    for h in (1, 2):
        assert _hour(ws, h).run.status == "completed"
    url = simulator_url(ws.config.simulator)
    set_scenario(url, "error_burst", rate=0.6, kinds="429,500", retry_after=0)
    try:
        o = _hour(ws, 3)
    finally:
        set_scenario(url, "baseline")

    s = o.summary
    assert o.run.status == "degraded"
    assert ws.store.get_run(o.run.run_id).status == "degraded"  # type: ignore[union-attr]
    limit = ws.config.alerts.for_flow("canary").max_error_rate
    assert s["attempts"] == REPETITIONS and s["error_rate"] > limit
    assert set(s["error_kinds"]) <= {"rate_limit", "server"}
    reliability = [a for a in o.evaluation.alerts if a.metric_class == "reliability"]
    assert len(reliability) == 1 and reliability[0].metric == "error_rate"
    assert [c.incident.metric_class for c in o.incidents] == ["reliability"]
    # A provider-unreachable incident names the endpoint and the errors (issue 8, defect 14).
    assert reliability[0].evidence["endpoint"] == "the bundled simulator"
    assert reliability[0].evidence["error_examples"]
    report = json.loads(Path(s["report"]).with_suffix(".json").read_text(encoding="utf-8"))
    assert report["verdict"] == "degraded"
    assert "calls failed after retries" in report["degraded_reason"]


@pytest.mark.parametrize("protocol", ["anthropic", "openai"])
def test_core_fake_matches_the_http_simulator(tmp_path: Path, protocol: str) -> None:
    """The in-process fake answers as the HTTP simulator does (same seed, fresh counters)."""
    model = "support-bot" if protocol == "anthropic" else "extractor"
    path = write_config(tmp_path, seed=SEED + 10 + (protocol == "openai"), warmup_runs=12)
    real = Workspace(load_config(path))
    fake, _ = _fake_ws(path)
    (r,) = run_canary(real, models=[model], as_of=T0)
    (f,) = run_canary(fake, models=[model], as_of=T0 + timedelta(hours=1))
    assert _outputs(real, r.run.run_id) == _outputs(fake, f.run.run_id)


def _outputs(ws: Workspace, run_id: str) -> Counter[tuple[object, ...]]:
    # Repetitions of one probe race each other, so compare them as a multiset per probe.
    return Counter(
        (i.item_id, i.passed, i.output, i.finish_reason, i.system_fingerprint, i.model_returned)
        for i in ws.store.items_for_runs([run_id])
    )
