"""Round trips and idempotency of every table of the results store."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from canaryflow.errors import StoreError
from canaryflow.records import (
    Alert,
    Baseline,
    CheckResult,
    Incident,
    ItemResult,
    RunRecord,
)
from canaryflow.store import ChartKey, ReviewItem, Store

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def run(run_id: str = "r1", *, as_of: datetime = T0, model: str = "m1", **kw: object) -> RunRecord:
    data: dict[str, object] = dict(
        run_id=run_id, flow="canary", model=model, config_hash="abc123", as_of=as_of
    )
    data.update(kw)
    return RunRecord.model_validate(data)


def item(run_id: str = "r1", item_id: str = "p1", attempt: int = 0, **kw: object) -> ItemResult:
    data: dict[str, object] = dict(
        run_id=run_id,
        item_id=item_id,
        attempt=attempt,
        flow="canary",
        model="m1",
        subject="dates_eu",
        passed=True,
        output="2026-03-04",
        checks=(CheckResult(name="date", passed=True, value="2026-03-04", reason="ok"),),
        created_at=T0,
        extra={"category": "dates", "scores": [1, 2]},
    )
    data.update(kw)
    return ItemResult.model_validate(data)


def alert(run_id: str | None = "r1", **kw: object) -> Alert:
    data: dict[str, object] = dict(
        flow="canary",
        model="m1",
        subject="dates_eu",
        metric="pass_rate",
        metric_class="correctness",
        baseline_value=0.98,
        current_value=0.6,
        test="fisher_one_sided+BH",
        p_value=0.001,
        baseline_n=500,
        first_window=T0,
        run_id=run_id,
        as_of=T0,
        evidence={"failing": ["p1"], "at": T0.isoformat()},
    )
    data.update(kw)
    return Alert.model_validate(data)


# -- runs ------------------------------------------------------------------------------------


def test_run_round_trip_and_finish(store: Store) -> None:
    store.begin_run(run(summary={"probes": 3}))
    got = store.get_run("r1")
    assert got == run(summary={"probes": 3}).model_copy(update={"started_at": got.started_at})
    assert got.status == "running" and got.finished_at is None
    store.finish_run("r1", "completed", {"pass_rate": 0.9, "nested": {"a": [1]}})
    got = store.get_run("r1")
    assert got.status == "completed"
    assert got.summary == {"pass_rate": 0.9, "nested": {"a": [1]}}
    assert got.finished_at is not None and got.finished_at.tzinfo is not None
    assert store.get_run("nope") is None


def test_finish_unknown_run_is_a_store_error(store: Store) -> None:
    with pytest.raises(StoreError, match="no run 'ghost'"):
        store.finish_run("ghost", "completed", {})


def test_rerun_of_a_run_overwrites_its_row(store: Store) -> None:
    store.begin_run(run())
    store.finish_run("r1", "failed", {"error": "killed"})
    store.begin_run(run())
    assert store.get_run("r1").status == "running"
    assert len(store.list_runs()) == 1


def test_list_runs_filters_and_orders_by_as_of(store: Store) -> None:
    for i, model in enumerate(["m1", "m2", "m1", "m1"]):
        store.begin_run(run(f"r{i}", as_of=T0 + timedelta(hours=i), model=model))
    store.finish_run("r2", "completed", {})
    assert [r.run_id for r in store.list_runs()] == ["r3", "r2", "r1", "r0"]
    assert [r.run_id for r in store.list_runs("canary", "m1", newest_first=False)] == [
        "r0",
        "r2",
        "r3",
    ]
    assert [r.run_id for r in store.list_runs(status="completed")] == ["r2"]
    assert [r.run_id for r in store.list_runs(status=["running"], model="m1")] == ["r3", "r0"]
    window = store.list_runs(since=T0 + timedelta(hours=1), until=T0 + timedelta(hours=3))
    assert [r.run_id for r in window] == ["r2", "r1"]  # half-open: r3 is at `until`
    assert [r.run_id for r in store.list_runs(limit=2)] == ["r3", "r2"]
    assert store.list_runs("golden") == []


def test_timestamps_come_back_aware_utc(store: Store) -> None:
    from zoneinfo import ZoneInfo

    paris = T0.astimezone(ZoneInfo("Europe/Paris"))
    store.begin_run(run(as_of=paris, started_at=paris))
    got = store.get_run("r1")
    assert got.as_of == T0 and got.as_of.tzinfo == UTC
    assert got.started_at.utcoffset() == timedelta(0)
    # A naive datetime is taken as UTC.
    store.begin_run(run("r2", as_of=T0.replace(tzinfo=None) + timedelta(hours=1)))
    assert store.get_run("r2").as_of == T0 + timedelta(hours=1)


# -- items -----------------------------------------------------------------------------------


def test_items_round_trip_every_field(store: Store) -> None:
    store.begin_run(run())
    full = item(
        score=4.5,
        normalized_output="2026-03-04",
        finish_reason="length",
        error=None,
        latency_ms=123.4,
        ttft_ms=50.0,
        input_tokens=10,
        output_tokens=20,
        cost_usd=0.0012,
        model_returned="model-x-2026",
        system_fingerprint="fp_1",
    )
    failed = item(item_id="p2", passed=None, error="timeout", error_kind="timeout", checks=())
    assert store.save_items([full, failed]) == 2
    assert store.items_for_runs(["r1"]) == [full, failed]


def test_saving_the_same_items_twice_keeps_one_row_each(store: Store) -> None:
    store.begin_run(run())
    batch = [item(attempt=a) for a in range(3)] + [item(item_id="p2")]
    store.save_items(batch)
    store.save_items(batch)
    changed = item(attempt=1, passed=False, output="04/03/2026")
    store.save_items([changed])
    got = store.items_for_runs(["r1", "r1"])
    assert len(got) == 4
    assert got[1] == changed


def test_items_for_many_runs(store: Store) -> None:
    ids = [f"r{i:04d}" for i in range(620)]  # more than one IN chunk
    with store.transaction() as conn:
        for rid in ids:
            store.begin_run(run(rid), conn=conn)
        store.save_items([item(rid) for rid in ids], conn=conn)
    got = store.items_for_runs(ids)
    assert [i.run_id for i in got] == ids
    assert store.items_for_runs([]) == []


def test_items_of_an_unknown_run_are_rejected(store: Store) -> None:
    with pytest.raises(StoreError, match="begin_run"):
        store.save_items([item("ghost")])


def test_delete_run_cascades_to_items(store: Store) -> None:
    store.begin_run(run())
    store.save_items([item()])
    assert store.delete_run("r1")
    assert store.items_for_runs(["r1"]) == []
    assert not store.delete_run("r1")


# -- transactions and watermarks ---------------------------------------------------------------


def test_watermark_round_trip(store: Store) -> None:
    assert store.get_watermark("prod.jsonl") is None
    store.set_watermark("prod.jsonl", "2026-11-24T10:00:00Z")
    store.set_watermark("prod.jsonl", "2026-11-24T10:15:00Z")
    assert store.get_watermark("prod.jsonl") == "2026-11-24T10:15:00Z"


def test_items_and_watermark_commit_together(store: Store) -> None:
    store.begin_run(run())
    with store.transaction() as conn:
        store.save_items([item()], conn=conn)
        store.set_watermark("prod", "w1", conn=conn)
        assert store.get_watermark("prod", conn=conn) == "w1"
    assert store.get_watermark("prod") == "w1"
    assert len(store.items_for_runs(["r1"])) == 1


def test_an_exception_rolls_back_items_and_watermark(store: Store) -> None:
    store.begin_run(run())
    store.set_watermark("prod", "w0")
    with pytest.raises(RuntimeError, match="killed"):
        with store.transaction() as conn:
            store.save_items([item(), item(item_id="p2")], conn=conn)
            store.set_watermark("prod", "w1", conn=conn)
            raise RuntimeError("killed mid-run")
    assert store.get_watermark("prod") == "w0"
    assert store.items_for_runs(["r1"]) == []


def test_a_database_error_rolls_back_the_whole_transaction(store: Store) -> None:
    store.begin_run(run())
    with pytest.raises(StoreError):
        with store.transaction() as conn:
            store.set_watermark("prod", "w1", conn=conn)
            store.save_items([item("ghost")], conn=conn)  # foreign key violation
    assert store.get_watermark("prod") is None


# -- baselines -------------------------------------------------------------------------------


def baseline(metric: str = "pass_rate", **kw: object) -> Baseline:
    data: dict[str, object] = dict(
        flow="canary",
        model="m1",
        subject="dates_eu",
        metric=metric,
        n=480,
        stats={"successes": 470, "trials": 480},
        window_start=T0,
        window_end=T0 + timedelta(days=1),
        run_ids=("r1", "r2"),
        created_at=T0,
        reason="warm-up",
    )
    data.update(kw)
    return Baseline.model_validate(data)


def test_baseline_versions_and_single_active(store: Store) -> None:
    b1 = store.save_baseline(baseline())
    assert b1.baseline_version == 1 and b1.active
    assert store.active_baseline("canary", "m1", "dates_eu", "pass_rate") == b1
    b2 = store.save_baseline(baseline(n=500, reason="promote: new model"))
    assert b2.baseline_version == 2
    assert store.active_baseline("canary", "m1", "dates_eu", "pass_rate") == b2
    old = store.get_baseline("canary", "m1", "dates_eu", "pass_rate", 1)
    assert old is not None and not old.active and old.n == 480  # frozen: only the flag moved
    assert store.list_baselines("canary", "m1") == [b2]
    assert [b.baseline_version for b in store.list_baselines(include_inactive=True)] == [1, 2]
    assert store.active_baseline("canary", "m1", "dates_eu", "latency") is None


def test_a_stored_baseline_cannot_be_saved_again(store: Store) -> None:
    b1 = store.save_baseline(baseline())
    with pytest.raises(StoreError, match="frozen"):
        store.save_baseline(b1)


def test_baselines_saved_in_one_transaction_roll_back_together(store: Store) -> None:
    with pytest.raises(RuntimeError):
        with store.transaction() as conn:
            store.save_baseline(baseline(), conn=conn)
            store.save_baseline(baseline("latency"), conn=conn)
            raise RuntimeError("stats failed")
    assert store.list_baselines(include_inactive=True) == []


def test_deactivate_baselines(store: Store) -> None:
    store.save_baseline(baseline())
    store.save_baseline(baseline("latency"))
    store.save_baseline(baseline(subject="json"))
    assert store.deactivate_baselines("canary", "m1", "dates_eu", "latency", reason="x") == 1
    assert store.deactivate_baselines("canary", "m1", reason="reset") == 2
    assert store.list_baselines() == []
    assert len(store.list_baselines(include_inactive=True)) == 3
    assert store.deactivate_baselines("canary", "m1") == 0
    again = store.save_baseline(baseline())
    assert again.baseline_version == 2


# -- chart states ----------------------------------------------------------------------------


def _sum_fold(state, obs, when):  # type: ignore[no-untyped-def]
    total = (state or {}).get("sum", 0) + obs["x"]
    return {"sum": total}, {"sum": total, "alarm": total > 5}


def test_chart_is_the_fold_of_its_points_in_as_of_order(store: Store) -> None:
    key = ChartKey("canary", "m1", "json", "cusum", 1)
    t = datetime(2026, 1, 1, tzinfo=UTC)

    def apply(run_id: str, hour: int, x: int) -> dict:  # type: ignore[type-arg]
        return store.apply_chart_point(
            key,
            run_id=run_id,
            as_of=t + timedelta(hours=hour),
            observation={"x": x},
            fold=_sum_fold,
        )

    assert store.chart_state(key) is None
    assert apply("r1", 1, 1) == {"sum": 1, "alarm": False}
    assert apply("r3", 3, 3) == {"sum": 4, "alarm": False}
    # A rerun of the newest run recomputes from the state before it: same result, no double count.
    assert apply("r3", 3, 3) == {"sum": 4, "alarm": False}
    assert store.chart_state(key) == {"sum": 4}
    # A late point (an earlier hour finishing after a later one) is folded in at its place.
    assert apply("r2", 2, 2) == {"sum": 3, "alarm": False}
    assert store.chart_state(key) == {"sum": 6}
    assert store.chart_point(key, "r3") == {"sum": 6, "alarm": True}
    assert [h["run_id"] for h in store.chart_history(key)] == ["r1", "r2", "r3"]
    # A new baseline version is a new, empty chart; the old one is untouched.
    new = key._replace(baseline_version=2)
    assert store.chart_state(new) is None and store.chart_history(new) == []
    store.apply_chart_point(new, run_id="r4", as_of=t, observation={"x": 1}, fold=_sum_fold)
    assert store.chart_state(new) == {"sum": 1} and store.chart_state(key) == {"sum": 6}


def incident(incident_id: str = "INC-1", **kw: object) -> Incident:
    data: dict[str, object] = dict(
        incident_id=incident_id,
        flow="canary",
        model="m1",
        subject="dates_eu",
        metric_class="correctness",
        severity="high",
        title="dates_eu pass rate dropped",
        opened_at=T0,
        updated_at=T0,
        alerts=(alert(),),
        run_ids=("r1",),
    )
    data.update(kw)
    return Incident.model_validate(data)


def test_alert_upsert_is_idempotent_and_keeps_incident(store: Store) -> None:
    store.save_alert(alert(), "INC-1")
    store.save_alert(alert(current_value=0.5))  # rerun: same key, no incident given
    got = store.list_alerts()
    assert len(got) == 1 and got[0].current_value == 0.5
    assert got[0] == alert(current_value=0.5)
    assert store.alert_incident_id(alert()) == "INC-1"
    assert store.list_alerts(incident_id="INC-1") == got
    store.save_alert(alert(metric="fingerprint"))
    assert store.alert_incident_id(alert(metric="fingerprint")) is None
    assert len(store.list_alerts(run_id="r1")) == 2


def test_run_less_alerts_are_keyed_by_as_of(store: Store) -> None:
    store.save_alert(alert(run_id=None, metric_class="reliability", metric="staleness"))
    store.save_alert(alert(run_id=None, metric_class="reliability", metric="staleness"))
    later = alert(
        run_id=None, metric_class="reliability", metric="staleness", as_of=T0 + timedelta(1)
    )
    store.save_alert(later)
    assert len(store.list_alerts()) == 2


def test_incident_round_trip_and_queries(store: Store) -> None:
    inc = incident()
    store.save_incident(inc)
    assert store.get_incident("INC-1") == inc
    assert store.open_incident("canary", "m1", "dates_eu", "correctness") == inc
    assert store.open_incident("canary", "m1", "dates_eu", "safety") is None
    resolved = inc.model_copy(
        update={
            "state": "resolved",
            "resolution": "fixed",
            "resolution_note": "reverted",
            "resolved_at": T0 + timedelta(hours=2),
            "report_path": "reports/incidents/INC-1.md",
        }
    )
    store.save_incident(resolved)
    assert store.get_incident("INC-1") == resolved
    assert store.open_incident("canary", "m1", "dates_eu", "correctness") is None
    store.save_incident(incident("INC-2", opened_at=T0 + timedelta(days=1)))
    assert [i.incident_id for i in store.list_incidents()] == ["INC-2", "INC-1"]
    assert [i.incident_id for i in store.list_incidents("resolved")] == ["INC-1"]
    assert [i.incident_id for i in store.list_incidents(["open", "acknowledged"])] == ["INC-2"]
    assert store.list_incidents(flow="golden") == [] and store.list_incidents(model="m2") == []
    assert store.incident_ids("INC-") == {"INC-1", "INC-2"}
    assert store.incident_ids("INC_") == set()  # LIKE wildcards are escaped


def test_only_one_open_incident_per_key(store: Store) -> None:
    store.save_incident(incident("INC-1"))
    with pytest.raises(StoreError):
        store.save_incident(incident("INC-2"))
    store.save_incident(incident("INC-3", state="acknowledged", subject="other"))


def test_open_incident_run_ids(store: Store) -> None:
    store.save_incident(incident("A", run_ids=("r1", "r2")))
    store.save_incident(incident("B", subject="json", run_ids=("r3",)))
    store.save_incident(incident("C", subject="x", state="resolved", run_ids=("r4",)))
    store.save_incident(incident("D", model="m2", run_ids=("r5",)))
    assert store.open_incident_run_ids("canary", "m1") == {"r1", "r2", "r3"}
    assert store.open_incident_run_ids("canary", "m1", exclude_incidents=["A"]) == {"r3"}


def test_sink_results_and_history(store: Store) -> None:
    store.save_incident(incident())
    store.record_sink_result("INC-1", "file", location="reports/incidents/INC-1.md")
    store.record_sink_result("INC-1", "webhook", error="HTTP 500", attempts=3)
    results = store.sink_results("INC-1")
    assert results["file"]["ok"] and results["file"]["location"].endswith("INC-1.md")
    assert results["webhook"] == results["webhook"] | {"ok": False, "error": "HTTP 500"}
    store.add_incident_event("INC-1", "opened")
    store.add_incident_event("INC-1", "acknowledged", "looking")
    assert [e["action"] for e in store.incident_history("INC-1")] == ["opened", "acknowledged"]
    # Upserting the incident keeps sink results and history.
    store.save_incident(incident(title="new title"))
    assert set(store.sink_results("INC-1")) == {"file", "webhook"}
    assert len(store.incident_history("INC-1")) == 2


# -- review queue ----------------------------------------------------------------------------


def test_review_items_upsert_keeps_status(store: Store) -> None:
    a = ReviewItem("production:support", "req-1", "pii", {"text": "[EMAIL]"}, created_at=T0)
    b = ReviewItem("production:support", "req-2", "unsafe", created_at=T0 + timedelta(1))
    assert store.add_review_items([a, b]) == 2
    assert store.list_review_items(limit=1)[0].payload == {"text": "[EMAIL]"}
    assert store.set_review_status("production:support", "req-1", "dismissed")
    assert not store.set_review_status("production:support", "nope", "dismissed")
    store.add_review_items([ReviewItem("production:support", "req-1", "pii again")])
    got = store.list_review_items("production:support")
    assert [(i.item_id, i.status, i.reason) for i in got] == [
        ("req-1", "dismissed", "pii again"),
        ("req-2", "pending", "unsafe"),
    ]
    assert [i.item_id for i in store.list_review_items(status="pending")] == ["req-2"]
    assert store.list_review_items("other") == []
