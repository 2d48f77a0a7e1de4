"""Incident lifecycle: dedupe by key, updates, reruns, sinks with retries, ack and resolve."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from canaryflow.baselines import incident_promoter
from canaryflow.errors import CanaryflowError
from canaryflow.incidents._manager import IncidentManager, Sink, incident_id_for
from canaryflow.records import Alert, Incident, ItemResult, RunRecord
from canaryflow.store import Store

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


class RecordingSink:
    """A sink that records its calls and fails the first ``failures`` of them."""

    def __init__(self, name: str = "file", failures: int = 0) -> None:
        self.name = name
        self.failures = failures
        self.calls: list[tuple[Incident, tuple[Alert, ...]]] = []

    def publish(self, incident: Incident, alerts: Sequence[Alert]) -> str | None:
        self.calls.append((incident, tuple(alerts)))
        if len(self.calls) <= self.failures:
            raise ConnectionError(f"{self.name} unreachable (call {len(self.calls)})")
        return f"reports/incidents/{incident.incident_id}.md" if self.name == "file" else None


def alert(run_id: str = "r1", hour: int = 0, **kw: object) -> Alert:
    data: dict[str, object] = dict(
        flow="canary",
        model="support-bot",
        subject="dates_eu",
        metric="pass_rate",
        metric_class="correctness",
        baseline_value=0.98,
        current_value=0.55,
        test="fisher_one_sided+BH",
        p_value=0.0004,
        baseline_n=480,
        run_id=run_id,
        as_of=T0 + timedelta(hours=hour),
        message="pass rate 0.98 -> 0.55",
    )
    data.update(kw)
    return Alert.model_validate(data)


def manager(store: Store, *sinks: Sink, **kw: object) -> IncidentManager:
    sleeps: list[float] = []
    m = IncidentManager(store, sinks, sleep=sleeps.append, **kw)  # type: ignore[arg-type]
    m.sleeps = sleeps  # type: ignore[attr-defined]
    return m


def test_an_alert_opens_an_incident_with_a_readable_id(store: Store) -> None:
    sink = RecordingSink()
    (change,) = manager(store, sink).handle([alert()])
    inc = change.incident
    assert change.action == "opened" and change.sink_errors == ()
    assert inc.incident_id == "INC-20261124-canary-support-bot-dates-eu-correctness"
    assert inc.severity == "high" and inc.state == "open"
    assert inc.run_ids == ("r1",) and inc.alerts == (alert(),)
    assert inc.opened_at == T0 and "dates_eu" in inc.title
    assert inc.report_path == f"reports/incidents/{inc.incident_id}.md"
    assert store.get_incident(inc.incident_id) == inc
    assert store.alert_incident_id(alert()) == inc.incident_id
    assert [a for a in sink.calls[0][1]] == [alert()]


def test_severity_follows_the_metric_class(store: Store) -> None:
    changes = manager(store).handle(
        [
            alert(metric_class="safety", subject="refusal", metric="unsafe_rate"),
            alert(metric_class="latency", subject="all", metric="p95_ms"),
        ]
    )
    assert [c.incident.severity for c in changes] == ["critical", "low"]


def test_a_second_alert_for_the_same_key_updates_the_incident(store: Store) -> None:
    m = manager(store, RecordingSink())
    (first,) = m.handle([alert("r1", 0)])
    (second,) = m.handle([alert("r2", 1, current_value=0.5)])
    assert second.action == "updated"
    inc = second.incident
    assert inc.incident_id == first.incident.incident_id
    assert inc.run_ids == ("r1", "r2") and len(inc.alerts) == 2
    assert inc.updated_at == T0 + timedelta(hours=1) and inc.opened_at == T0
    assert len(store.list_incidents()) == 1
    # Another metric of the same class and subject is the same incident too.
    (third,) = m.handle([alert("r3", 2, metric="flip_rate")])
    assert third.incident.incident_id == inc.incident_id
    # A different subject or class is a different incident.
    (other,) = m.handle([alert("r3", 2, metric_class="fingerprint", metric="changed")])
    assert other.action == "opened" and other.incident.incident_id != inc.incident_id


def test_alerts_of_one_call_with_the_same_key_make_one_incident(store: Store) -> None:
    changes = manager(store).handle(
        [alert(metric="pass_rate"), alert(metric="flip_rate"), alert(subject="json")]
    )
    assert [(c.action, len(c.alerts)) for c in changes] == [("opened", 2), ("opened", 1)]


def test_rerunning_the_same_run_does_not_duplicate_or_republish(store: Store) -> None:
    sink = RecordingSink()
    m = manager(store, sink)
    (first,) = m.handle([alert()])
    (again,) = m.handle([alert()])
    assert again.incident == first.incident
    assert len(store.list_incidents()) == 1 and len(store.list_alerts()) == 1
    assert len(sink.calls) == 1  # the sink already has this state
    assert [e["action"] for e in store.incident_history(first.incident.incident_id)] == ["opened"]


def test_a_rerun_after_a_crash_before_publishing_publishes(store: Store) -> None:
    manager(store).handle([alert()])  # stored, then "killed" before any sink ran
    sink = RecordingSink()
    (change,) = manager(store, sink).handle([alert()])
    assert len(sink.calls) == 1 and change.incident.report_path is not None


def test_a_rerun_of_an_old_run_does_not_reopen_a_resolved_incident(store: Store) -> None:
    m = manager(store)
    (change,) = m.handle([alert()])
    m.resolve(change.incident.incident_id, "fixed", "reverted the prompt")
    assert m.handle([alert()]) == []
    assert len(store.list_incidents()) == 1


def test_a_new_alert_after_resolution_opens_a_new_incident_with_a_free_id(store: Store) -> None:
    m = manager(store)
    (first,) = m.handle([alert("r1", 0)])
    m.resolve(first.incident.incident_id, "false_alarm")
    (second,) = m.handle([alert("r2", 1)])
    assert second.action == "opened"
    assert second.incident.incident_id == first.incident.incident_id + "-2"
    (third,) = m.handle([alert("r3", 2)])
    assert third.action == "updated" and third.incident.incident_id.endswith("-2")


def test_incident_ids_are_bounded_and_distinct_for_long_names() -> None:
    long = "a" * 200
    a, b = alert(subject=long + "x"), alert(subject=long + "y")
    assert incident_id_for(a) != incident_id_for(b)
    assert len(incident_id_for(a)) < 120


def test_a_flaky_sink_is_retried(store: Store) -> None:
    flaky = RecordingSink("webhook", failures=2)
    m = manager(store, RecordingSink(), flaky)
    (change,) = m.handle([alert()])
    assert change.sink_errors == ()
    assert len(flaky.calls) == 3 and m.sleeps == [0.5, 2.0]  # type: ignore[attr-defined]
    result = store.sink_results(change.incident.incident_id)["webhook"]
    assert result["ok"] and result["attempts"] == 3


def test_a_failing_sink_never_loses_the_incident(store: Store) -> None:
    dead = RecordingSink("webhook", failures=99)
    file_sink = RecordingSink("file")
    m = manager(store, dead, file_sink)
    (change,) = m.handle([alert()])
    inc_id = change.incident.incident_id
    assert change.sink_errors == ("webhook: ConnectionError: webhook unreachable (call 3)",)
    assert len(dead.calls) == 3 and len(file_sink.calls) == 1
    assert store.get_incident(inc_id) is not None  # persisted before the sinks ran
    assert store.get_incident(inc_id).report_path.endswith(".md")
    results = store.sink_results(inc_id)
    assert results["webhook"]["ok"] is False and "unreachable" in results["webhook"]["error"]
    assert results["file"]["ok"] is True
    # Later, the webhook is back: republish delivers only to it.
    dead.failures = 0
    assert m.republish(inc_id) == ()
    assert len(dead.calls) == 4 and len(file_sink.calls) == 1
    assert store.sink_results(inc_id)["webhook"]["ok"] is True


def test_a_sink_failure_is_retried_on_rerun(store: Store) -> None:
    dead = RecordingSink("webhook", failures=3)
    m = manager(store, dead)
    m.handle([alert()])
    (change,) = m.handle([alert()])  # rerun: the webhook does not have the state yet
    assert change.sink_errors == () and len(dead.calls) == 4


def test_ack_and_resolve_transitions(store: Store) -> None:
    sink = RecordingSink()
    clock = [T0 + timedelta(days=1)]
    m = manager(store, sink, clock=lambda: clock[0])
    (change,) = m.handle([alert()])
    inc_id = change.incident.incident_id
    acked = m.ack(inc_id, "looking into it")
    assert acked.state == "acknowledged" and acked.updated_at == clock[0]
    assert store.open_incident("canary", "support-bot", "dates_eu", "correctness") == acked
    # An acknowledged incident still absorbs new alerts.
    (upd,) = m.handle([alert("r2", 1)])
    assert upd.incident.incident_id == inc_id and upd.incident.state == "acknowledged"
    with pytest.raises(CanaryflowError, match="already acknowledged|it is acknowledged"):
        m.ack(inc_id)
    clock[0] += timedelta(hours=3)
    done = m.resolve(inc_id, "fixed", "pinned the previous model version")
    assert (done.state, done.resolution, done.resolution_note) == (
        "resolved",
        "fixed",
        "pinned the previous model version",
    )
    assert done.resolved_at == clock[0]
    assert sink.calls[-1][0].state == "resolved" and sink.calls[-1][1] == ()
    history = store.incident_history(inc_id)
    assert [e["action"] for e in history] == ["opened", "acknowledged", "updated", "resolved:fixed"]
    assert history[1]["note"] == "looking into it"
    with pytest.raises(CanaryflowError, match=r"already resolved \(fixed\)"):
        m.resolve(inc_id, "false_alarm")
    with pytest.raises(CanaryflowError, match="only an open incident"):
        m.ack(inc_id)


def test_invalid_resolve_requests(store: Store) -> None:
    m = manager(store)
    (change,) = m.handle([alert()])
    inc_id = change.incident.incident_id
    with pytest.raises(CanaryflowError, match="unknown resolution 'wontfix'"):
        m.resolve(inc_id, "wontfix")  # type: ignore[arg-type]
    with pytest.raises(CanaryflowError, match="pass promote="):
        m.resolve(inc_id, "accepted_change")
    with pytest.raises(CanaryflowError, match="no incident 'INC-nope'"):
        m.ack("INC-nope")
    assert store.get_incident(inc_id).state == "open"


def test_accepted_change_rebaselines_from_the_change(store: Store) -> None:
    for i, rid in enumerate(["r1", "r2"]):
        store.begin_run(
            RunRecord(
                run_id=rid,
                flow="canary",
                model="support-bot",
                config_hash="h",
                as_of=T0 + timedelta(hours=i),
            )
        )
        store.save_items(
            [
                ItemResult(
                    run_id=rid,
                    item_id="p1",
                    flow="canary",
                    model="support-bot",
                    subject="dates_eu",
                    passed=False,
                )
            ]
        )
        store.finish_run(rid, "completed", {})
    m = manager(store)
    m.handle([alert("r1", 0), alert("r2", 1)])
    (inc,) = store.list_incidents()

    done = m.resolve(
        inc.incident_id, "accepted_change", "DD/MM is fine", promote=incident_promoter(store)
    )
    assert done.resolution == "accepted_change"
    # The model's baselines are retired; the next one warms up from the change (the first
    # window of the incident's alerts), the incident's own runs included.
    assert store.active_baseline("canary", "support-bot", "dates_eu", "pass_rate") is None
    w = store.get_warmup("canary", "support-bot")
    assert w is not None and w["since_as_of"] == T0 and inc.incident_id in w["reason"]
    note = store.incident_history(inc.incident_id)[-1]["note"]
    assert "built from runs since" in note


def test_a_failing_promote_leaves_the_incident_open(store: Store) -> None:
    m = manager(store)
    (change,) = m.handle([alert()])

    def broken(incident: Incident) -> None:
        raise CanaryflowError("no eligible runs")

    with pytest.raises(CanaryflowError, match="no eligible runs"):
        m.resolve(change.incident.incident_id, "accepted_change", promote=broken)
    assert store.get_incident(change.incident.incident_id).state == "open"


def test_embedded_alerts_are_capped(store: Store) -> None:
    m = manager(store)
    for i in range(120):
        m.handle([alert(f"r{i:03d}", i)])
    (inc,) = store.list_incidents()
    assert len(inc.alerts) == 100 and len(inc.run_ids) == 120
    assert inc.alerts[0].run_id == "r000" and inc.alerts[-1].run_id == "r119"
    assert len(store.list_alerts(incident_id=inc.incident_id)) == 120


def test_sink_protocol_and_unique_names(store: Store) -> None:
    assert isinstance(RecordingSink(), Sink)
    with pytest.raises(CanaryflowError, match="unique"):
        IncidentManager(store, [RecordingSink(), RecordingSink()])


def test_concurrent_workers_file_one_incident_per_key(store: Store) -> None:
    import threading

    workers = [IncidentManager(Store.open(store.engine.url.render_as_string(False))) for _ in "ab"]
    errors: list[BaseException] = []

    def work(m: IncidentManager, offset: int) -> None:
        try:
            for i in range(6):
                m.handle([alert(f"r{offset}-{i}", i)])
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(m, n)) for n, m in enumerate(workers)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for m in workers:
        m.store.close()
    assert errors == []
    (inc,) = store.list_incidents()
    assert len(inc.run_ids) == 12 and len(inc.alerts) == 12
