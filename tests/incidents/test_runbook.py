"""Runbooks are filled with facts; incident reports are safe and carry them."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta

import pytest

from canaryflow.incidents._runbook import (
    MAX_FLAGGED,
    ConfigChange,
    IncidentDocument,
    RunbookContext,
    SubjectCount,
    build_runbook,
    pin_config_lines,
    render_incident,
)
from canaryflow.records import Alert, Incident, MetricClass
from canaryflow.reports import Chart, Example

T0 = datetime(2024, 4, 3, 10, tzinfo=UTC)


def _alert(metric_class: MetricClass = "correctness", **kw: object) -> Alert:
    base: dict[str, object] = {
        "flow": "canary",
        "model": "support-bot",
        "subject": "dates_eu",
        "metric": "pass_rate",
        "metric_class": metric_class,
        "baseline_value": 1.0,
        "current_value": 0.7,
        "test": "fisher_one_sided+BH",
        "p_value": 0.0012,
        "baseline_n": 240,
        "first_window": T0,
        "run_id": "run-42",
        "message": "dates_eu pass rate 1.00 -> 0.70",
    }
    base.update(kw)
    return Alert.model_validate(base)


def _incident(metric_class: MetricClass = "correctness", severity: str = "high") -> Incident:
    return Incident(
        incident_id="INC-20240403-0001",
        flow="canary",
        model="support-bot",
        subject="dates_eu",
        metric_class=metric_class,
        severity=severity,
        title="dates_eu pass rate 1.00 -> 0.70",
        opened_at=T0,
        updated_at=T0 + timedelta(hours=1),
        alerts=(_alert(metric_class),),
        run_ids=("run-41", "run-42"),
    )


def _examples(n: int) -> tuple[Example, ...]:
    return tuple(
        Example(
            item_id=f"dates-eu-{i:02d}",
            subject="dates_eu",
            input=f"Invoice dated 0{i % 9 + 1}/04/2024, contact jane{i}@example.com",
            expected=f"2024-04-0{i % 9 + 1}",
            output=f"2024-0{i % 9 + 1}-04",
            reason=f"expected 2024-04-0{i % 9 + 1}, got 2024-0{i % 9 + 1}-04",
        )
        for i in range(n)
    )


def _context(**kw: object) -> RunbookContext:
    base: dict[str, object] = {
        "examples": _examples(25),
        "failing_total": 31,
        "counts": (
            SubjectCount(
                subject="dates_eu", failed=6, total=20, baseline_failed=0, baseline_total=240
            ),
            SubjectCount(subject="dates_us", failed=0, total=20),
            SubjectCount(subject="json_output", failed=0, total=20),
        ),
        "fingerprint_changed_at": T0,
        "fingerprint_changed": 14,
        "fingerprint_probes": 20,
        "config_hashes": ("c0ffee",),
        "models_returned_before": ("claude-sonnet-4-20250514",),
        "models_returned_after": ("claude-sonnet-4-20250901",),
        "pinned_model": "claude-sonnet-4",
        "golden_set": "financial_extraction",
        "chart_path": "charts/dates_eu-ewma.png",
    }
    base.update(kw)
    return RunbookContext.model_validate(base)


def _outside_code_blocks(md: str) -> str:
    out, fence = [], None
    for line in md.splitlines():
        m = re.match(r"^(`{3,})", line)
        if fence is None and m:
            fence = m.group(1)
        elif fence is not None:
            fence = None if line.strip() == fence else fence
        else:
            out.append(line)
    assert fence is None, "a code block was left open"
    return "\n".join(out)


def test_runbook_is_filled_with_facts(golden_cli: None) -> None:
    inc = _incident()
    rb = build_runbook(inc, inc.alerts, _context())
    triage = "\n".join(rb.triage)
    assert len(rb.flagged) == MAX_FLAGGED == 20
    assert "20 flagged samples" in triage and "of 31 failing" in triage
    for e in rb.flagged:
        assert e.item_id in triage
    assert "dates-eu-20" not in triage  # only 20 named
    assert "jane0@example.com" not in triage and "[EMAIL]" in rb.flagged[0].input
    assert "p = 0.0012" in triage and "baseline m = 240" in triage
    assert "m = 240 (< 300)" in triage
    assert "charts/dates_eu-ewma.png" in triage
    scope = "\n".join(rb.scope)
    assert "dates_eu (family): 6/20 failed now vs 0/240 in the baseline" in scope
    assert "Unaffected (2): dates_us, json_output" in scope
    isolate = "\n".join(rb.isolate)
    assert "14 of 20 probes changed output at 2024-04-03 10:00 UTC" in isolate
    assert "claude-sonnet-4-20250514 -> claude-sonnet-4-20250901" in isolate
    assert "Config hash unchanged" in isolate and "c0ffee" in isolate
    assert rb.config_lines == '[models.support-bot]\nmodel = "claude-sonnet-4-20250514"'
    assert any("pin [models.support-bot]" in line for line in rb.respond)
    assert rb.learn_command == (
        "canaryflow golden add-from-incident INC-20240403-0001 --set financial_extraction"
    )
    assert any(rb.learn_command in line for line in rb.learn)
    assert [s.name for s in rb.steps()] == ["triage", "scope", "isolate", "respond", "learn"]
    assert rb.steps()[0].goal == "under 30 minutes"
    for step in rb.steps():
        assert step.lines and all(line.strip() for line in step.lines)
        assert not any(re.search(r"\[(?:Metric|TODO|\s*)\]|<[a-z_]+>", line) for line in step.lines)


def test_last_good_model_wins_and_config_change_is_reported() -> None:
    inc = _incident()
    ctx = _context(
        last_good_model="claude-sonnet-4-20250514",
        pinned_model="claude-sonnet-4-20250901",
        model_key="support bot",
        config_changes=(ConfigChange(before="c0ffee", after="beef01", at=T0, run_id="run-40"),),
        config_hashes=("c0ffee", "beef01"),
    )
    rb = build_runbook(inc, inc.alerts, ctx)
    assert rb.config_lines == '[models."support bot"]\nmodel = "claude-sonnet-4-20250514"'
    isolate = "\n".join(rb.isolate)
    assert "config hash changed c0ffee -> beef01 at 2024-04-03 10:00 UTC (run run-40)" in isolate
    assert "git log -p" in isolate


def test_no_context_says_unknown_not_blank(golden_cli: None) -> None:
    inc = _incident()
    rb = build_runbook(inc, inc.alerts, None)
    assert rb.config_lines is None
    assert "No failing item was recorded" in rb.triage[0]
    assert any("No earlier model version is known" in line for line in rb.respond)
    assert any("Config hash history unknown" in line for line in rb.isolate)
    assert "--set dates_eu-regressions" in rb.learn_command


def test_severity_and_class_wording() -> None:
    safety = _incident("safety", "critical")
    rb_s = build_runbook(safety, safety.alerts, _context())
    assert rb_s.headline.startswith("CRITICAL safety regression")
    assert rb_s.steps()[0].goal.startswith("now")
    assert rb_s.respond[0].startswith("Until resolved: route the affected feature to human review")
    latency = _incident("latency", "low")
    rb_l = build_runbook(latency, latency.alerts, _context())
    assert "not a correctness problem" in rb_l.headline
    assert any("Not a correctness issue" in line for line in rb_l.respond)
    assert rb_l.steps()[0].goal == "within 1 business day"
    assert not any("human review or disable" in line for line in rb_l.respond)


def test_pin_config_lines_are_valid_toml() -> None:
    import tomllib

    text = pin_config_lines('we"ird key', 'model "x"\\y')
    parsed = tomllib.loads(text)
    assert parsed == {"models": {'we"ird key': {"model": 'model "x"\\y'}}}


def test_render_incident_markdown_and_json(golden_cli: None) -> None:
    inc = _incident()
    rb = build_runbook(inc, inc.alerts, _context())
    md, js = render_incident(
        inc, inc.alerts, rb, [Chart(title="EWMA", path="charts/e.png", unit="pass rate")]
    )
    assert md.startswith("## INC-20240403-0001")
    assert "**Status: OPEN** · severity HIGH" in md
    for word in ("1. Triage", "2. Scope", "3. Isolate", "4. Respond", "5. Learn"):
        assert word in md
    assert '```toml\n[models.support-bot]\nmodel = "claude-sonnet-4-20250514"\n```' in md
    assert "```sh\ncanaryflow golden add-from-incident INC-20240403-0001" in md
    assert "![EWMA (pass rate)](charts/e.png)" in md
    assert "jane" not in md
    doc = IncidentDocument.model_validate_json(js)
    assert doc.runbook == rb and doc.incident.incident_id == inc.incident_id
    assert json.loads(js)["version"] == 1


def test_render_incident_resists_injection_and_redacts_evidence() -> None:
    evil = "</details><script>x</script>\n```\n| a | b |\n@team"
    alert = _alert(message=evil, subject=evil, evidence={"sample": "key sk-ant-abcdefghijkl0123"})
    inc = _incident().model_copy(update={"title": evil, "alerts": (alert,)})
    ctx = _context(examples=(Example(item_id=evil, output=evil, reason=evil),))
    md, js = render_incident(inc, [alert], build_runbook(inc, [alert], ctx))
    prose = _outside_code_blocks(md)
    assert "<script>" not in prose and "@team" not in prose
    tags = set(re.findall(r"</?[a-zA-Z][^>]*>", prose))
    assert tags <= {"<details open>", "</details>", "<summary>", "</summary>", "<sub>", "</sub>"}
    assert prose.count("<details") == prose.count("</details>")
    assert "sk-ant-abcdefghijkl0123" not in js and "sk-ant-abcdefghijkl0123" not in md


@pytest.mark.parametrize("n", [20, 5])
def test_render_incident_budget(n: int) -> None:
    big = tuple(Example(item_id=f"item-{i}", output="z" * 3000, input="y" * 3000) for i in range(n))
    inc = _incident()
    rb = build_runbook(inc, inc.alerts, _context(examples=big))
    md, _ = render_incident(inc, inc.alerts, rb, budget=30_000)
    assert len(md) <= 30_000
    assert md.count("<details") == md.count("</details>")


def test_runbook_context_from_loose_mapping() -> None:
    """The dict form the canary run passes (aliases, extra keys ignored) fills the runbook."""
    ctx = {
        "model_key": "support-bot",
        "pinned_model": "sim-sonnet",
        "provider": "simulator",
        "config_path": "conf/canaryflow.toml",
        "config_hashes": ["c0ffee"],
        "as_of": T0.isoformat(),
        "failing_examples": [
            {"item_id": "dates-eu-03", "family": "dates_eu", "attempt": 0, "output": "2024-03-04",
             "reason": "expected 2024-04-03"},
            {"item_id": "dates-eu-03", "family": "dates_eu", "attempt": 1, "output": "2024-03-04",
             "reason": "expected 2024-04-03"},
        ],
        "fingerprint": "14 of 20 probes changed output (modal-output share 6/20 vs 240/240)",
        "fingerprint_changed_probes": ["p"] * 14,
        "new_model_names": ["sim-sonnet-2024-04-01"],
        "families": [
            {"family": "dates_eu", "rate": 0.7, "baseline_rate": 1.0, "n": 20, "verdict": "alert"},
            {"family": "json", "rate": 1.0, "baseline_rate": 1.0, "n": 20, "verdict": "ok"},
        ],
        "newly_failing": [],
    }  # fmt: skip
    inc = _incident()
    rb = build_runbook(inc, inc.alerts, ctx)
    text = "\n".join(line for step in rb.steps() for line in step.lines)
    assert "dates-eu-03 (dates_eu, 2 of 2 repetitions failed): expected 2024-04-03" in text
    assert "Review the 1 flagged sample (2 failed attempts in all" in text
    assert "dates_eu (family): 6/20 failed now vs baseline pass rate 1.00" in text
    assert "14 of 20 probes changed output at 2024-04-03 10:00 UTC" in text
    assert "Pinned model id in conf/canaryflow.toml: sim-sonnet" in text
    assert "Config hash unchanged" in text
