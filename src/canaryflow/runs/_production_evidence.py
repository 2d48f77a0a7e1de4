"""Alerts that need no baseline (cost, budget, monitor the monitor) and incident facts.

``baseline_free_alerts`` runs in every production run, warm-up included (it is the
lifecycle's reliability step): a budget crossing 80 % / 100 %, a user over the hourly limit,
a source that delivered nothing new, a schedule that missed twice its interval and a judge
whose error rate is above ``[judge] max_error_rate``. The last three mark the run degraded:
its quiet verdicts are not trusted and it never feeds a baseline.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from canaryflow.config import AlertParams
from canaryflow.incidents._runbook import RunbookContext, SubjectCount
from canaryflow.production import WindowResult
from canaryflow.records import Alert, ItemResult, RunRecord
from canaryflow.reports import Example
from canaryflow.runs._lifecycle import Reliability
from canaryflow.runs._production_detect import ALL, FLOW
from canaryflow.runs._workspace import Workspace

__all__ = ["baseline_free_alerts", "incident_context", "schedule_interval", "with_context"]


def schedule_interval(cron: str, tz: str = "UTC") -> timedelta:
    """The gap between two firings of a cron schedule (from an arbitrary reference day)."""
    from cronsim import CronSim  # Prefect's own cron dependency

    it = CronSim(cron, datetime(2026, 1, 5))
    a = next(it)
    return next(it) - a


def _alert(run: RunRecord, subject: str, metric: str, klass: Any, message: str, **kw: Any) -> Alert:
    return Alert(
        flow=FLOW,
        model=run.model,
        subject=subject,
        metric=metric,
        metric_class=klass,
        run_id=run.run_id,
        as_of=run.as_of,
        first_window=kw.pop("first_window", run.as_of),
        message=message,
        test=kw.pop("test", "limit"),
        baseline_value=kw.pop("baseline_value", None),
        current_value=kw.pop("current_value", None),
        **kw,
    )


def baseline_free_alerts(
    ws: Workspace,
    run: RunRecord,
    items: Sequence[ItemResult],
    params: AlertParams,
    plugin: Any,
) -> Reliability:
    windows = sorted((i for i in items if i.subject == ALL), key=lambda i: i.extra["window_start"])
    n = sum(int(i.extra["totals"].get("n") or 0) for i in windows)
    judge = plugin.judge.summary()
    summary: dict[str, Any] = {"windows": len(windows), "records": n, **judge}
    alerts: list[Alert] = []
    degraded = False
    if n == 0 and plugin.due:
        degraded = True
        wm = ws.store.get_watermark(plugin.judge.source)
        alerts.append(
            _alert(
                run, ALL, "no_new_records", "reliability",
                f"source {plugin.judge.source!r} delivered no new records for the {plugin.due} "
                f"windows due at "
                f"{run.as_of:%Y-%m-%d %H:%M} UTC (watermark {wm or 'none'}): the exporter, the "
                "file glob or the table may have stopped; nothing was measured",
                current_value=0.0, limit=1.0,
            )
        )  # fmt: skip
    previous = ws.store.list_runs(
        FLOW, run.model, status=["completed", "degraded"], until=run.as_of, limit=1
    )
    interval = plugin.interval
    if previous and interval and run.as_of - previous[0].as_of > 2 * interval:
        gap = run.as_of - previous[0].as_of
        degraded = True
        alerts.append(
            _alert(
                run, ALL, "schedule_overdue", "reliability",
                f"no production run completed between {previous[0].as_of:%Y-%m-%d %H:%M} and "
                f"{run.as_of:%Y-%m-%d %H:%M} UTC ({gap}), more than twice the schedule "
                f"interval ({interval}): check `canaryflow serve` / the Prefect worker",
                current_value=gap.total_seconds(), limit=2 * interval.total_seconds(),
            )
        )  # fmt: skip
    max_err = ws.config.judge.max_error_rate
    if judge["judge_error_rate"] > max_err and judge["judge_errors"] >= 3:
        degraded = True
        alerts.append(
            _alert(
                run, ALL, "judge_error_rate", "reliability",
                f"{judge['judge_errors']} judge calls failed ({judge['judge_error_rate']:.0%}), "
                f"above [judge] max_error_rate {max_err:.0%}: judged quality of this run is not "
                "trusted",
                current_value=judge["judge_error_rate"], limit=max_err,
            )
        )  # fmt: skip
    alerts += _cost_alerts(run, windows)
    return Reliability(degraded, tuple(alerts), summary)


def _cost_alerts(run: RunRecord, windows: Sequence[ItemResult]) -> list[Alert]:
    out: list[Alert] = []
    seen_users: set[str] = set()
    for w in windows:
        t = w.extra["totals"]
        start = datetime.fromisoformat(w.extra["window_start"])
        for key, b in (t.get("budget") or {}).items():
            spent, limit = float(b["spent_usd"]), float(b["budget_usd"])
            own = float(t.get("cost_usd") or 0.0) if key == "total" else None
            before = (spent - own) / limit if own is not None and limit else None
            for level, share in (("exceeded", 1.0), ("warning", 0.8)):
                if b["used"] >= share and (before is None or before < share):
                    out.append(
                        _alert(
                            run, key, f"budget_{level}", "cost",
                            f"daily budget {key!r}: ${spent:.2f} of ${limit:.2f} spent "
                            f"({b['used']:.0%}) by {w.extra['window_end']}",
                            current_value=spent, baseline_value=limit, limit=share * limit,
                            first_window=start,
                        )
                    )  # fmt: skip
                    break
        for u in t.get("users_over_hourly_limit") or []:
            if u["user_id"] in seen_users:
                continue
            seen_users.add(u["user_id"])
            out.append(
                _alert(
                    run, f"user:{u['user_id']}", "user_hourly_limit", "cost",
                    f"user {u['user_id']} spent ${u['hour_to_date_usd']:.2f} this hour, over the "
                    "per-user hourly limit",
                    current_value=u["hour_to_date_usd"], first_window=start,
                    evidence={"top_spenders": t.get("top_spenders", [])[:10]},
                )
            )  # fmt: skip
    return out


def _same_hours(ws: Workspace, start: datetime, end: datetime) -> str:
    """Canary and golden runs in the incident's hours (the isolate step's timeline)."""
    parts = []
    for flow in ("canary", "golden"):
        runs = ws.store.list_runs(flow, since=start - timedelta(hours=1), until=end)
        if runs:
            bad = sum(1 for r in runs if r.summary.get("incidents"))
            models = sorted({r.model for r in runs})
            parts.append(f"{flow}: {len(runs)} runs of {', '.join(models)}, {bad} with incidents")
    return "; ".join(parts) or "no canary or golden run in these hours"


def with_context(
    ws: Workspace, run: RunRecord, alerts: Sequence[Alert], results: Sequence[WindowResult]
) -> list[Alert]:
    """Alerts with the isolate timeline and, for cost alerts, the cost-spike investigation."""
    from canaryflow.production import investigate_cost
    from canaryflow.runs.production import _source

    if not results:
        return list(alerts)
    start, end = results[0].start, results[-1].end
    timeline = _same_hours(ws, start, end)
    out = []
    for a in alerts:
        ev = {**a.evidence, "same_hours": timeline}
        msg = f"{a.message} [same hours: {timeline}]"
        if a.metric_class == "cost":
            source, _ = _source(ws)
            feature = a.subject.split("/")[0] if "/" in a.subject else None
            inv = investigate_cost(source, a.first_window or start, end, feature_id=feature)
            ev["cost_investigation"] = inv
            top = (inv.get("top_users") or [{}])[0]
            if top:
                msg += f" [top user {top.get('user_id')}: ${float(top.get('cost_usd', 0)):.2f}]"
        out.append(a.model_copy(update={"evidence": ev, "message": msg}))
    return out


def incident_context(
    ws: Workspace, run: RunRecord, incident: Any, results: Sequence[WindowResult]
) -> RunbookContext:
    """Runbook facts: up to 20 redacted flagged samples, the scope table by feature."""
    feature = incident.subject.split("/")[0] if "/" in incident.subject else None
    flagged = [
        f for r in results for f in r.flagged if feature is None or f["feature_id"] == feature
    ]
    examples = tuple(
        Example(
            item_id=f["request_id"],
            subject=f"{f['feature_id']}/{f['model_id']} user {f['user_id']}",
            input=f["input"],
            output=f["output"],
            reason="hard-block safety pattern",
        )
        for f in flagged[:20]
    )
    counts: dict[str, list[int]] = {}
    for r in results:
        for row in r.ops:
            c = counts.setdefault(f"{row['feature_id']}/{row['model_id']}", [0, 0])
            c[0] += int(row["n_error"]) + int(row["n_refusal"]) + int(row.get("n_flagged") or 0)
            c[1] += int(row["n"])
    return RunbookContext(
        examples=examples,
        failing_total=len(flagged),
        counts=tuple(
            SubjectCount(subject=s, kind="feature", failed=f, total=t)
            for s, (f, t) in counts.items()
        ),
        features=tuple(sorted({s.split("/")[0] for s in counts})),
        config_file=ws.config.source_path or "canaryflow.toml",
    )
