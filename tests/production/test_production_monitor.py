"""Monitor the monitor: a source that stopped delivering, a schedule that missed twice its
interval and a failing judge each raise their own alert, and such a run is degraded."""

from __future__ import annotations

from datetime import timedelta

from prodflow_env import START, at, project

from canaryflow.runs.production import backfill_production, run_production


def _metrics(outcome):  # type: ignore[no-untyped-def]
    return {a.metric for a in outcome.evaluation.alerts}


def test_stopped_source_and_late_schedule_alert_and_degrade(tmp_path):
    ws = project(tmp_path, days=0.25, warmup=12)  # 6 hours of traffic
    outs = backfill_production(ws, START, at(4))
    assert [o.run.status for o in outs] == ["completed"] * 4

    ok = run_production(ws, at(4) + timedelta(minutes=20))  # 4:00-4:15 closed, on time
    assert ok.run.status == "completed" and ok.summary["records"] > 0
    assert not _metrics(ok) & {"schedule_overdue", "no_new_records"}

    late = run_production(ws, at(5.6))  # 1h16 after the last run: > 2 x 15 min
    assert late.run.status == "degraded"
    assert "schedule_overdue" in _metrics(late)
    assert any(c.incident.metric_class == "reliability" for c in late.incidents)

    run_production(ws, at(5.85))
    run_production(ws, at(6.1))  # the last records (before 6:00) are in
    dry = run_production(ws, at(6.6))  # 6:00-6:30 closed, the source has nothing
    assert dry.run.status == "degraded"
    assert "no_new_records" in _metrics(dry)
    assert "nothing was measured" in next(
        a.message for a in dry.evaluation.alerts if a.metric == "no_new_records"
    )
    # A degraded run never feeds a baseline.
    assert dry.run.run_id not in ws.store.frozen_run_ids("production", "production")


def test_failing_judge_degrades_the_run_and_never_scores(tmp_path):
    ws = project(tmp_path, days=0.1, warmup=12, judge_scenario="judge_faults")
    outs = backfill_production(ws, START, at(2))
    last = outs[-1]
    assert last.run.status == "degraded"
    assert "judge_error_rate" in _metrics(last)
    assert last.summary["judged"] == 0 and last.summary["judge_errors"] > 0
    items = ws.store.items_for_runs([last.run.run_id])
    assert all(i.score is None for i in items)  # an error is never a score
