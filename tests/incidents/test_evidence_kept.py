"""Defect 13: acknowledging or resolving an incident keeps its evidence and appends history.

The incident is filed the way a canary run files it (the manager and the file sink both know
the run's context); the ack and the resolve come later from the CLI, which knows nothing about
the run. The report they rewrite must still carry the samples, scope, fingerprint and chart,
and show every state change with who, when and the note.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

from canaryflow.incidents._manager import IncidentManager
from canaryflow.incidents._runbook import RunbookContext, SubjectCount
from canaryflow.incidents._sinks import FileSink
from canaryflow.records import Alert
from canaryflow.reports import Example
from canaryflow.store import Store

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def _alert(run_id: str, hour: int) -> Alert:
    return Alert(
        flow="canary", model="support-bot", subject="dates_eu", metric="pass_rate",
        metric_class="correctness", baseline_value=0.98, current_value=0.55,
        test="fisher_one_sided+BH", p_value=0.0004, baseline_n=480, run_id=run_id,
        as_of=T0 + timedelta(hours=hour), message=f"pass rate 0.98 -> 0.55 ({run_id})",
    )  # fmt: skip


def _context(chart: Path) -> RunbookContext:
    return RunbookContext(
        examples=(
            Example(
                item_id="dates-eu-03",
                subject="dates_eu",
                input="Rechnung vom 03/04/2024, Fragen an jane@example.com",
                expected="2024-04-03",
                output="2024-03-04",
                reason="iso_date: expected 2024-04-03, got 2024-03-04",
                failed=3,
                attempts=3,
            ),
        ),  # fmt: skip
        failing_total=3,
        counts=(
            SubjectCount(
                subject="dates_eu", failed=9, total=20, baseline_failed=1, baseline_total=480
            ),
            SubjectCount(subject="json_output", failed=0, total=20),
        ),  # fmt: skip
        fingerprint_changed_at=T0,
        fingerprint_changed=14,
        fingerprint_probes=20,
        chart_path=str(chart),
        chart_unit="pass rate",
    )


def test_ack_and_resolve_keep_evidence_and_append_history(store: Store, tmp_path: Path) -> None:
    out = tmp_path / "reports" / "incidents"
    chart = tmp_path / "reports" / "charts" / "dates_eu-pass-rate.png"
    chart.parent.mkdir(parents=True)
    chart.write_bytes(b"\x89PNG")
    ctx = _context(chart)

    def provider(incident: object, alerts: object) -> RunbookContext:
        return ctx

    run_side = IncidentManager(
        store, [FileSink(out, context_provider=provider)], sleep=lambda s: None, context=provider
    )
    (opened,) = run_side.handle([_alert("r1", 0)])
    iid = opened.incident.incident_id
    # The CLI's manager: same store and sink directory, no knowledge of the run.
    cli_side = IncidentManager(store, [FileSink(out)], sleep=lambda s: None)
    cli_side.ack(iid, "looking at the date parser", by="alice")
    # A re-alert while acknowledged updates the incident (and its history) too.
    run_side.handle([_alert("r2", 1)])
    cli_side.resolve(iid, "fixed", "pinned the previous model", by="bob")

    md = (out / f"{iid}.md").read_text()
    doc = json.loads((out / f"{iid}.json").read_text())
    # evidence survives both rewrites
    assert "No failing item was recorded" not in md
    assert "dates-eu-03" in md and "3 of 3 repetitions failed" in md
    assert "Rechnung vom 03/04/2024" in md and "jane@example.com" not in md
    assert "dates\\_eu (family): 9/20 failed now vs 1/480 in the baseline" in md
    assert "14 of 20 probes changed output" in md
    assert "](../charts/dates_eu-pass-rate.png)" in md
    assert doc["runbook"]["flagged"][0]["item_id"] == "dates-eu-03"
    assert doc["runbook"]["flagged"][0]["expected"] == "2024-04-03"
    assert doc["charts"][0]["path"] == "../charts/dates_eu-pass-rate.png"
    assert doc["incident"]["evidence"]["fingerprint_changed"] == 14
    assert "jane@example.com" not in json.dumps(doc)
    # history: opened, acknowledged (with note and who), updated, resolved (note and who)
    history = doc["incident"]["history"]
    assert [h["action"] for h in history] == [
        "opened",
        "acknowledged",
        "updated",
        "resolved:fixed",
    ]
    assert history[1]["note"] == "looking at the date parser" and history[1]["by"] == "alice"
    assert history[3]["note"] == "pinned the previous model" and history[3]["by"] == "bob"
    section = md.split("### History", 1)[1]
    assert "acknowledged by alice: looking at the date parser" in section
    assert "resolved:fixed by bob: pinned the previous model" in section
    assert section.index("acknowledged") < section.index("updated") < section.index("resolved")
    assert "**Status: RESOLVED (FIXED)**" in md


def test_evidence_is_stored_with_the_incident(store: Store, tmp_path: Path) -> None:
    ctx = _context(tmp_path / "c.png")
    m = IncidentManager(store, [], context=ctx)
    (change,) = m.handle([_alert("r1", 0)])
    stored = store.get_incident(change.incident.incident_id)
    assert stored is not None
    assert stored.evidence["examples"][0]["item_id"] == "dates-eu-03"
    assert stored.evidence["chart_path"] == str((tmp_path / "c.png").resolve())
    # a re-alert that knows nothing new keeps it
    IncidentManager(store, []).handle([_alert("r2", 1)])
    again = store.get_incident(change.incident.incident_id)
    assert again is not None and again.evidence == stored.evidence
    assert [h.action for h in again.history] == ["opened", "updated"]
