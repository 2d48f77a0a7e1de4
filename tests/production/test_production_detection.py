"""Detection on generated traffic (seeded, CI-sized): a 1-day baseline of hourly backfill runs
(24 runs, 96 windows per feature) then a monitored day. The issue's full 21-day / 7-day
figures come from benchmarks/production_detection.py; here each of the six changes must open
its incident within 6 hours of onset, and a day without a change must open none."""

from __future__ import annotations

from datetime import timedelta

import pytest
from prodflow_env import START, at, opened, project

from canaryflow.production.generator import Change
from canaryflow.runs.production import backfill_production

pytestmark = pytest.mark.slow

CHAT, EXTRACT, SUMMARY = (
    "support-chat/claude-sonnet-4",
    "doc-extract/gpt-4o-mini",
    "summarize/claude-haiku-4",
)

# Onset (hours from start), change, and the incidents (subject, class) that count as caught.
CHANGES = [
    (26, Change("ttft_regression", at(26), "support-chat", 3.0), {(CHAT, "latency")}),
    (28, Change("refusal_spike", at(28), "doc-extract", 0.15), {(EXTRACT, "quality")}),
    (30, Change("verbose_drift", at(30), "summarize", 3.0), {(SUMMARY, "drift")}),
    (33, Change("topic_shift", at(33), "support-chat"), {(CHAT, "drift")}),
    (36, Change("correctness_drop", at(36), "doc-extract", 0.6), {(EXTRACT, "correctness")}),
    (40, Change("cost_spike", at(40)), {("user:user-spender", "cost"), (CHAT, "cost")}),
]


def test_each_change_opens_its_incident_within_6_hours(tmp_path):
    ws = project(tmp_path, days=2, changes=[c for _, c, _ in CHANGES])
    outcomes = backfill_production(ws, START, START + timedelta(days=2))
    assert sum(o.summary.get("phase") == "warmup" for o in outcomes) == 24
    incidents = opened(outcomes)
    for onset, change, keys in CHANGES:
        caught = [t for t, s, k, _ in incidents if (s, k) in keys and t >= at(onset)]
        assert caught, f"{change.kind}: no incident in {keys}; opened: {incidents}"
        assert caught[0] - at(onset) <= timedelta(hours=6), (change.kind, caught[0])
    # Nothing before the first change; every incident is on a changed feature or user.
    first = min(o for o, _, _ in CHANGES)
    assert [i for i in incidents if i[0] <= at(first)] == []
    changed = {s for _, _, keys in CHANGES for s, _ in keys}
    assert {s for _, s, _, _ in incidents} <= changed, incidents


def test_an_in_control_day_opens_no_incident(tmp_path):
    ws = project(tmp_path, days=2, seed=11)
    outcomes = backfill_production(ws, START, START + timedelta(days=2))
    assert opened(outcomes) == []
    monitored = [o for o in outcomes if o.summary.get("phase") == "monitor"]
    assert len(monitored) == 24
    assert all(o.run.status == "completed" for o in outcomes)
