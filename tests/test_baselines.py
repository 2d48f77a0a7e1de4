"""Baselines: versioning, promote, reset, and the open-incident exclusion."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from canaryflow.baselines import (
    MetricStats,
    Window,
    baseline_summary,
    build_baseline,
    incident_promoter,
    promote,
    render_baseline,
    reset,
    select_runs,
    warmup_runs,
)
from canaryflow.errors import CanaryflowError
from canaryflow.records import Incident, ItemResult, RunRecord
from canaryflow.store import Store

T0 = datetime(2026, 11, 24, 0, 0, tzinfo=UTC)


def add_run(
    store: Store,
    run_id: str,
    hour: int,
    *,
    passed: Sequence[bool] = (True, True, True, False),
    status: str = "completed",
    model: str = "m1",
) -> None:
    store.begin_run(
        RunRecord(
            run_id=run_id,
            flow="golden",
            model=model,
            config_hash="h",
            as_of=T0 + timedelta(hours=hour),
        )
    )
    store.save_items(
        [
            ItemResult(
                run_id=run_id,
                item_id=f"{subject}-{i}",
                flow="golden",
                model=model,
                subject=subject,
                passed=p,
                latency_ms=100.0 + i,
            )
            for subject in ("dates_eu", "json")
            for i, p in enumerate(passed)
        ]
    )
    store.finish_run(run_id, status, {})  # type: ignore[arg-type]


def pass_rate_stats(
    runs: Sequence[RunRecord], items: Sequence[ItemResult]
) -> Mapping[tuple[str, str], MetricStats]:
    out: dict[tuple[str, str], MetricStats] = {}
    for subject in sorted({i.subject for i in items}):
        mine = [i for i in items if i.subject == subject]
        wins = sum(1 for i in mine if i.passed)
        out[(subject, "pass_rate")] = MetricStats(
            len(mine), {"successes": wins, "trials": len(mine), "runs": len(runs)}
        )
    return out


def open_incident(
    store: Store, incident_id: str, run_ids: Sequence[str], subject: str = "dates_eu"
) -> Incident:
    inc = Incident(
        incident_id=incident_id,
        flow="golden",
        model="m1",
        subject=subject,
        metric_class="correctness",
        severity="high",
        title="t",
        opened_at=T0,
        updated_at=T0,
        run_ids=tuple(run_ids),
    )
    store.save_incident(inc)
    return inc


def test_build_baseline_versions_and_window(store: Store) -> None:
    add_run(store, "r1", 1)
    add_run(store, "r2", 2)
    b1 = build_baseline(
        store,
        "golden",
        "m1",
        "dates_eu",
        "pass_rate",
        stats={"n": 8, "successes": 6, "trials": 8},
        reason="warm-up",
        run_ids=["r2", "r1"],
    )
    assert b1.baseline_version == 1 and b1.n == 8
    assert b1.stats == {"successes": 6, "trials": 8}
    assert (b1.window_start, b1.window_end) == (T0 + timedelta(hours=1), T0 + timedelta(hours=2))
    assert b1.run_ids == ("r1", "r2")
    b2 = build_baseline(
        store,
        "golden",
        "m1",
        "dates_eu",
        "pass_rate",
        stats=MetricStats(10, {"mean": 0.5}),
        reason="manual",
        window=Window(T0, T0 + timedelta(days=1)),
    )
    assert b2.baseline_version == 2
    assert store.active_baseline("golden", "m1", "dates_eu", "pass_rate") == b2
    assert not store.get_baseline("golden", "m1", "dates_eu", "pass_rate", 1).active


def test_build_baseline_refuses_runs_of_open_incidents(store: Store) -> None:
    add_run(store, "r1", 1)
    open_incident(store, "INC-1", ["r1"])
    with pytest.raises(CanaryflowError, match="'r1' cannot be used: contributed to an open"):
        build_baseline(
            store,
            "golden",
            "m1",
            "dates_eu",
            "pass_rate",
            stats={"n": 1},
            reason="x",
            run_ids=["r1"],
        )
    b = build_baseline(
        store,
        "golden",
        "m1",
        "dates_eu",
        "pass_rate",
        stats={"n": 1},
        reason="accepted",
        run_ids=["r1"],
        include_incidents=["INC-1"],
    )
    assert b.run_ids == ("r1",)


def test_build_baseline_validates_input(store: Store) -> None:
    with pytest.raises(CanaryflowError, match="reason"):
        build_baseline(store, "golden", "m1", "s", "m", stats={"n": 1}, reason=" ")
    with pytest.raises(CanaryflowError, match="mapping with 'n'"):
        build_baseline(store, "golden", "m1", "s", "m", stats={"mean": 1}, reason="x")
    with pytest.raises(CanaryflowError, match="'ghost' is not in the store"):
        build_baseline(
            store, "golden", "m1", "s", "m", stats={"n": 1}, reason="x", run_ids=["ghost"]
        )


def test_promote_builds_every_subject_metric_from_a_window(store: Store) -> None:
    for h in range(4):
        add_run(store, f"r{h}", h)
    add_run(store, "bad", 5, status="degraded")
    add_run(store, "other-model", 2, model="m2")
    result = promote(
        store,
        flow="golden",
        model="m1",
        reason="promote by ana: new prompt",
        stats_fn=pass_rate_stats,
        since=T0 + timedelta(hours=1),
        until=T0 + timedelta(hours=6),
    )
    assert result.run_ids == ("r1", "r2", "r3")
    assert result.excluded == {"bad": "status 'degraded'"}
    assert [(b.subject, b.metric, b.baseline_version) for b in result.baselines] == [
        ("dates_eu", "pass_rate", 1),
        ("json", "pass_rate", 1),
    ]
    b = store.active_baseline("golden", "m1", "json", "pass_rate")
    assert b is not None and b.stats == {"successes": 9, "trials": 12, "runs": 3}
    assert b.reason == "promote by ana: new prompt" and b.n == 12
    assert b.window_start == T0 + timedelta(hours=1) and b.window_end == T0 + timedelta(hours=3)
    again = promote(
        store,
        flow="golden",
        model="m1",
        reason="again",
        stats_fn=pass_rate_stats,
        run_ids=["r0"],
    )
    assert {b.baseline_version for b in again.baselines} == {2}
    assert len(store.list_baselines("golden", "m1")) == 2


def test_promote_excludes_runs_of_open_incidents(store: Store) -> None:
    for h in range(3):
        add_run(store, f"r{h}", h, passed=(True, True, True, True))
    add_run(store, "regressed", 3, passed=(False, False, False, False))
    inc = open_incident(store, "INC-1", ["regressed"])
    result = promote(store, flow="golden", model="m1", reason="x", stats_fn=pass_rate_stats)
    assert "regressed" not in result.run_ids
    assert result.excluded == {"regressed": "contributed to an open incident"}
    assert all(b.stats["successes"] == b.stats["trials"] for b in result.baselines)
    # Once resolved, its runs are eligible again.
    store.save_incident(inc.model_copy(update={"state": "resolved", "resolution": "fixed"}))
    result = promote(store, flow="golden", model="m1", reason="y", stats_fn=pass_rate_stats)
    assert "regressed" in result.run_ids


def test_promote_with_no_eligible_runs_says_why(store: Store) -> None:
    add_run(store, "r1", 1)
    open_incident(store, "INC-1", ["r1"])
    with pytest.raises(CanaryflowError, match="no eligible runs.*r1: contributed to an open"):
        promote(store, flow="golden", model="m1", reason="x", stats_fn=pass_rate_stats)
    with pytest.raises(CanaryflowError, match="not both"):
        promote(
            store,
            flow="golden",
            model="m1",
            reason="x",
            stats_fn=pass_rate_stats,
            run_ids=["r1"],
            since=T0,
        )
    with pytest.raises(CanaryflowError, match="reason"):
        promote(store, flow="golden", model="m1", reason="", stats_fn=pass_rate_stats)


def test_promote_is_all_or_nothing(store: Store) -> None:
    add_run(store, "r1", 1)

    def half_broken(runs: Sequence[RunRecord], items: Sequence[ItemResult]) -> dict:
        return {("a", "m"): MetricStats(1, {}), ("b", "m"): {"no_n": 1}}

    with pytest.raises(CanaryflowError, match="'b'/'m'"):
        promote(store, flow="golden", model="m1", reason="x", stats_fn=half_broken)
    assert store.list_baselines(include_inactive=True) == []


def test_promote_converts_numpy_values(store: Store) -> None:
    np = pytest.importorskip("numpy")
    add_run(store, "r1", 1)
    result = promote(
        store,
        flow="golden",
        model="m1",
        reason="x",
        stats_fn=lambda runs, items: {
            ("s", "latency"): MetricStats(
                np.int64(4), {"mean": np.float64(1.5), "q": np.array([1, 2])}
            )
        },
    )
    assert result.baselines[0].stats == {"mean": 1.5, "q": [1, 2]}
    assert store.active_baseline("golden", "m1", "s", "latency").stats["q"] == [1, 2]


def test_accepted_change_rebuilds_from_runs_since_the_change(store: Store) -> None:
    add_run(store, "r1", 1)
    promote(store, flow="golden", model="m1", reason="warm-up", stats_fn=pass_rate_stats)
    add_run(store, "new1", 2, passed=(False, True, True, True))
    add_run(store, "new2", 3, passed=(False, True, True, True))
    inc = open_incident(store, "INC-1", ["new1", "new2"])
    inc = inc.model_copy(update={"opened_at": T0 + timedelta(hours=2)})  # no alert: opened_at
    note = incident_promoter(store, note="intended")(inc)
    assert "built from runs since" in note
    # Every subject of the model is retired: one meaning of an accepted change.
    assert store.list_baselines("golden", "m1") == []
    store.save_incident(inc.model_copy(update={"state": "resolved"}))
    sel = warmup_runs(store, "golden", "m1", need=10)
    # The warm-up counts the runs since the change (the incident's own), not the old ones.
    assert [r.run_id for r in sel.runs] == ["new1", "new2"]


def test_reset_deactivates_and_keeps_history(store: Store) -> None:
    add_run(store, "r1", 1)
    promote(store, flow="golden", model="m1", reason="x", stats_fn=pass_rate_stats)
    assert reset(store, "golden", "m1", "new model", subject="json") == 1
    assert [b.subject for b in store.list_baselines()] == ["dates_eu"]
    assert reset(store, "golden", "m1", "new model") == 1
    assert store.list_baselines() == []
    assert len(store.list_baselines(include_inactive=True)) == 2
    with pytest.raises(CanaryflowError, match="reason"):
        reset(store, "golden", "m1", "")


def test_select_runs_by_ids_flags_other_models(store: Store) -> None:
    add_run(store, "r1", 1)
    add_run(store, "x", 1, model="m2")
    sel = select_runs(store, "golden", "m1", run_ids=["r1", "x", "r1"])
    assert [r.run_id for r in sel.runs] == ["r1"]
    assert sel.excluded == {"x": "belongs to golden/m2, not golden/m1"}


def test_summary_and_render(store: Store) -> None:
    add_run(store, "r1", 1)
    (b, _) = promote(
        store, flow="golden", model="m1", reason="warm-up", stats_fn=pass_rate_stats
    ).baselines
    s = baseline_summary(b)
    assert s["key"] == "golden/m1/dates_eu/pass_rate" and s["version"] == 1
    assert s["small_baseline"] and "m = 4 < 300" in s["note"]
    assert s["window_start"] == (T0 + timedelta(hours=1)).isoformat()
    text = render_baseline(b)
    assert "golden/m1/dates_eu/pass_rate  v1 (active)" in text
    assert "successes=3" in text and "warm-up" in text and "note:" in text
    big = b.model_copy(update={"n": 500})
    assert baseline_summary(big)["note"] == "" and "note:" not in render_baseline(big)


def test_promote_refuses_a_canary_baseline_too_small_to_chart(store: Store) -> None:
    """Defect: promoting 5-10 runs made every later run crash on the EWMA limit (m < 12)."""
    for i in range(5):
        store.begin_run(
            RunRecord(
                run_id=f"c{i}",
                flow="canary",
                model="m1",
                config_hash="h",
                as_of=T0 + timedelta(hours=i),
                started_at=T0,
                status="completed",
            )
        )
    with pytest.raises(CanaryflowError, match="needs at least 12"):
        promote(store, flow="canary", model="m1", reason="x", stats_fn=pass_rate_stats)
    assert store.list_baselines("canary", "m1") == []
