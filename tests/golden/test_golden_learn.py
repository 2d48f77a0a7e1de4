"""The learn step from canary and production incidents (golden ones: tests/flows)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from canaryflow.definitions import load_probes
from canaryflow.errors import CanaryflowError
from canaryflow.golden import build_request, load_golden_sets
from canaryflow.golden._learn import add_from_incident
from canaryflow.records import Incident

REPO = Path(__file__).resolve().parents[2]
T = datetime(2024, 4, 3, 10, tzinfo=UTC)


def _incident(flow: str, subject: str, examples: list[dict]) -> Incident:
    return Incident(
        incident_id=f"INC-20240403-{flow}-x",
        flow=flow,
        model="support-bot",
        subject=subject,
        metric_class="correctness",
        severity="high",
        title=f"{subject} regressed",
        opened_at=T,
        updated_at=T,
        evidence={"examples": examples},
    )


def test_canary_and_production_cases_become_checked_items_once(tmp_path: Path) -> None:
    probes = load_probes(REPO / "probes").probes
    eu = [p for p in probes if p.id.startswith("dates-eu-")][:2]
    canary = _incident(
        "canary",
        "dates_eu",
        [{"item_id": p.id, "input": "(redacted)", "reason": "iso_date: transposed"} for p in eu],
    )
    result = add_from_incident(canary, tmp_path, probes=probes)
    assert result.created and result.set_name == "dates_eu-regressions"
    assert len(result.added) == 2 and not result.skipped
    suite = load_golden_sets(tmp_path)
    assert suite.ok, [e.line() for e in suite.errors]
    gset = suite.get("dates_eu-regressions")
    for item, probe in zip(gset.items, eu, strict=True):
        assert item.checks == probe.checks  # still checked, not just stored
        assert canary.incident_id in item.note and "from_incident" in item.tags
        request = build_request(gset.header, item, set_name=gset.name, model_key="m")
        sent = probe.prompt or "\n\n".join(m.content for m in probe.messages or ())
        assert request.messages[-1].content == sent  # a multi-message probe: one user turn
    again = add_from_incident(canary, tmp_path, probes=probes)
    assert not again.added and len(again.duplicates) == 2

    production = _incident(
        "production",
        "checkout",
        [
            {"item_id": "req-1", "input": "Where is my refund?", "expected": "5 business days"},
            {"item_id": "req-2", "input": ""},
        ],
    )
    res = add_from_incident(production, tmp_path, set_name="prod_cases")
    assert res.added == ["req-1-inc-20240403-production-x"]
    assert res.skipped and "no input" in res.skipped[0]
    prod = load_golden_sets(tmp_path).get("prod_cases")
    assert prod.header.rubric == "quality"  # judged against the expected text
    assert prod.items[0].expected == "5 business days"


def test_an_incident_without_cases_or_a_bad_set_name_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(CanaryflowError, match="kept no failing case"):
        add_from_incident(_incident("canary", "dates_eu", []), tmp_path)
    with pytest.raises(CanaryflowError, match="letters, digits"):
        add_from_incident(
            _incident("canary", "dates_eu", [{"input": "x"}]), tmp_path, set_name="../etc"
        )
    assert not list(tmp_path.iterdir())
