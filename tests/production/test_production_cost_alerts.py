"""Cost alerts need no baseline: the daily budget crossing 80 % and 100 %, a user over the
hourly limit -- each once, when it happens, with what DESIGN §4 asks for."""

from __future__ import annotations

from datetime import timedelta

from prodflow_env import START

from canaryflow.records import ItemResult, RunRecord
from canaryflow.runs._production_evidence import _cost_alerts

RUN = RunRecord(run_id="r", flow="production", model="production", config_hash="x", as_of=START)


def _window(k: int, spent: float, own: float, over: list[str]) -> ItemResult:
    start = START + timedelta(minutes=15 * k)
    used = spent / 10.0
    return ItemResult(
        run_id="r",
        item_id=f"{k}|*",
        flow="production",
        model="production",
        subject="*",
        passed=None,
        extra={
            "window_start": start.isoformat(),
            "window_end": (start + timedelta(minutes=15)).isoformat(),
            "totals": {
                "cost_usd": own,
                "budget": {"total": {"budget_usd": 10.0, "spent_usd": spent, "used": used}},
                "users_over_hourly_limit": [{"user_id": u, "hour_to_date_usd": 3.0} for u in over],
            },
        },
    )


def test_budget_crossings_and_hourly_limit_alert_once():
    windows = [
        _window(0, 7.0, 1.0, []),  # 70 %: nothing
        _window(1, 8.5, 1.5, ["user-9"]),  # crosses 80 %; user-9 over the limit
        _window(2, 9.0, 0.5, ["user-9"]),  # still warning, same user: nothing new
        _window(3, 10.5, 1.5, []),  # crosses 100 %
    ]
    alerts = _cost_alerts(RUN, windows)
    got = [(a.subject, a.metric) for a in alerts]
    assert got == [
        ("total", "budget_warning"),
        ("user:user-9", "user_hourly_limit"),
        ("total", "budget_exceeded"),
    ]
    warn = alerts[0]
    assert warn.metric_class == "cost" and warn.limit == 8.0 and warn.baseline_value == 10.0
    assert warn.first_window == START + timedelta(minutes=15)
    assert "85%" in warn.message
