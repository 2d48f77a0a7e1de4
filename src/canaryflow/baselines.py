"""Baselines: explicit, versioned, frozen references per (flow, model, subject, metric).

What flows and ``canaryflow baseline list|show|promote|reset`` call (DESIGN.md §4):

- ``build_baseline`` stores one new version from statistics the caller computed;
- ``promote`` rebuilds every (subject, metric) of a flow and model from chosen runs;
- ``reset`` deactivates baselines so the next runs warm up a new one;
- ``warmup_runs`` / ``freeze`` are the one warm-up policy every flow uses: which runs may build
  the next baseline, and storing all of a model's subjects in one transaction;
- ``accept_change`` is the one meaning of an incident resolved as an accepted change: the new
  behaviour is the new normal, so the model's baselines of that flow are rebuilt from runs
  since the change (the incident's own runs included) by the same warm-up.

Charts belong to a baseline version (``store.ChartKey``): every new version starts fresh charts
in the transaction that stores it, so an old baseline's parameters can never keep paging.

A baseline is never edited: a new version replaces the active one. Data from runs that
contributed to an open or acknowledged incident of the same flow and model never enters a
baseline (an accepted change may name its own incident in ``include_incidents``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, NamedTuple

from canaryflow.config import MIN_BASELINE_RUNS
from canaryflow.errors import CanaryflowError
from canaryflow.records import Baseline, Incident, ItemResult, RunRecord, RunStatus, utcnow
from canaryflow.store import Store

__all__ = [
    "MIN_BASELINE_RUNS",
    "MIN_RELIABLE_N",
    "accept_change",
    "freeze",
    "warmup_runs",
    "MetricStats",
    "Promotion",
    "RunSelection",
    "StatsFn",
    "Window",
    "baseline_summary",
    "build_baseline",
    "incident_promoter",
    "promote",
    "render_baseline",
    "reset",
    "select_runs",
]

MIN_RELIABLE_N = 300
"""Below this baseline size m, estimated control limits do not deliver the nominal ARL0
(Jones, Champ & Rigdon 2001): the chart widens or calibrates its limit and the report says so."""

DEFAULT_STATUSES: tuple[RunStatus, ...] = ("completed",)
"""Runs that may feed a baseline: degraded, failed and unfinished runs never do."""


class Window(NamedTuple):
    """A half-open time window of runs' ``as_of``: start <= as_of < end (None: unbounded)."""

    start: datetime | None
    end: datetime | None


class MetricStats(NamedTuple):
    """What a stats function computes for one (subject, metric): size and frozen statistics."""

    n: int
    """Baseline size m (runs, attempts or items, as the metric defines it)."""
    stats: dict[str, Any]
    """JSON-able statistics: mean, sd, successes, trials, an output distribution..."""


StatsFn = Callable[
    [Sequence[RunRecord], Sequence[ItemResult]],
    Mapping[tuple[str, str], "MetricStats | Mapping[str, Any]"],
]
"""``stats_fn(runs, items) -> {(subject, metric): MetricStats}``; a plain mapping with an
``"n"`` key is accepted in place of a MetricStats."""


class RunSelection(NamedTuple):
    """The runs a baseline may use, and those left out with the reason why."""

    runs: list[RunRecord]
    excluded: dict[str, str]


@dataclass(frozen=True)
class Promotion:
    """The outcome of a promote: the new baseline versions and the runs they came from."""

    baselines: tuple[Baseline, ...]
    run_ids: tuple[str, ...]
    excluded: dict[str, str] = field(default_factory=dict)
    """Run id -> why it was left out (open incident, status, other flow or model)."""


def select_runs(
    store: Store,
    flow: str,
    model: str,
    *,
    run_ids: Sequence[str] | None = None,
    window: Window | None = None,
    statuses: Sequence[RunStatus] = DEFAULT_STATUSES,
    include_incidents: Iterable[str] = (),
) -> RunSelection:
    """The runs of ``flow``/``model`` that may enter a baseline, by ids or by window.

    Raises:
        CanaryflowError: a named run does not exist.
    """
    excluded: dict[str, str] = {}
    if run_ids is not None:
        candidates: list[RunRecord] = []
        for rid in dict.fromkeys(run_ids):
            found = store.get_run(rid)
            if found is None:
                raise CanaryflowError(f"run {rid!r} is not in the store {store.url!r}")
            if (found.flow, found.model) != (flow, model):
                excluded[rid] = f"belongs to {found.flow}/{found.model}, not {flow}/{model}"
                continue
            candidates.append(found)
    else:
        w = window or Window(None, None)
        candidates = store.list_runs(flow, model, since=w.start, until=w.end, newest_first=False)
    blocked = store.open_incident_run_ids(flow, model, exclude_incidents=include_incidents)
    selected: list[RunRecord] = []
    for r in candidates:
        if r.run_id in blocked:
            excluded[r.run_id] = "contributed to an open incident"
        elif r.status not in statuses:
            excluded[r.run_id] = f"status {r.status!r}"
        else:
            selected.append(r)
    selected.sort(key=lambda r: (r.as_of, r.run_id))
    return RunSelection(selected, excluded)


def _plain(value: Any) -> Any:
    """JSON-able copy: numpy scalars and arrays (duck-typed) become Python numbers and lists."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if hasattr(value, "tolist") and callable(value.tolist):
        return _plain(value.tolist())
    if hasattr(value, "item") and callable(value.item) and not isinstance(value, str):
        return value.item()
    return value


def _metric_stats(key: tuple[str, str], value: MetricStats | Mapping[str, Any]) -> MetricStats:
    if isinstance(value, MetricStats):
        return MetricStats(int(value.n), _plain(value.stats))
    if isinstance(value, Mapping) and "n" in value:
        return MetricStats(int(value["n"]), _plain({k: v for k, v in value.items() if k != "n"}))
    raise CanaryflowError(
        f"stats for {key[0]!r}/{key[1]!r}: expected MetricStats(n, stats) or a mapping with "
        f"'n', got {type(value).__name__}"
    )


def build_baseline(
    store: Store,
    flow: str,
    model: str,
    subject: str,
    metric: str,
    *,
    stats: MetricStats | Mapping[str, Any],
    reason: str,
    run_ids: Sequence[str] = (),
    window: Window | None = None,
    include_incidents: Iterable[str] = (),
) -> Baseline:
    """Store a new baseline version for one key from statistics the caller computed.

    ``stats`` is a MetricStats or a mapping with ``"n"``. The window defaults to the span of
    the runs' ``as_of``.

    Raises:
        CanaryflowError: a run contributed to an open incident of this flow and model, or
            does not exist, or ``reason`` is empty.
    """
    if not reason.strip():
        raise CanaryflowError("a baseline needs a reason (warm-up, promote: <why>...)")
    ms = _metric_stats((subject, metric), stats)
    runs: list[RunRecord] = []
    if run_ids:
        selection = select_runs(
            store,
            flow,
            model,
            run_ids=run_ids,
            statuses=("completed", "degraded", "running", "failed"),
            include_incidents=include_incidents,
        )
        if selection.excluded:
            rid, why = next(iter(selection.excluded.items()))
            raise CanaryflowError(
                f"baseline {flow}/{model}/{subject}/{metric}: run {rid!r} cannot be used: {why}"
            )
        runs = selection.runs
    if window is None and runs:
        window = Window(runs[0].as_of, runs[-1].as_of)
    w = window or Window(None, None)
    return store.save_baseline(
        Baseline(
            flow=flow,
            model=model,
            subject=subject,
            metric=metric,
            n=ms.n,
            stats=ms.stats,
            window_start=w.start,
            window_end=w.end,
            run_ids=tuple(r.run_id for r in runs) or tuple(run_ids),
            reason=reason,
        )
    )


def promote(
    store: Store,
    *,
    flow: str,
    model: str,
    reason: str,
    stats_fn: StatsFn,
    run_ids: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    subjects: Iterable[str] | None = None,
    statuses: Sequence[RunStatus] = DEFAULT_STATUSES,
    include_incidents: Iterable[str] = (),
) -> Promotion:
    """Build a new baseline version for every (subject, metric) from the chosen runs.

    Runs are chosen by ``run_ids`` or by the window ``since <= as_of < until``; runs of open
    incidents (except ``include_incidents``) and runs whose status is not in ``statuses`` are
    left out. All new versions are stored in one transaction: either all replace their
    predecessors or none does.

    Raises:
        CanaryflowError: no run is eligible, the stats function returned nothing, or a run id
            is unknown; the message lists why runs were left out.
    """
    if not reason.strip():
        raise CanaryflowError("promote needs a reason (it is recorded on every new baseline)")
    if run_ids is not None and (since is not None or until is not None):
        raise CanaryflowError("promote: give run_ids or a since/until window, not both")
    selection = select_runs(
        store,
        flow,
        model,
        run_ids=run_ids,
        window=Window(since, until),
        statuses=statuses,
        include_incidents=include_incidents,
    )
    if not selection.runs:
        why = "; ".join(f"{k}: {v}" for k, v in list(selection.excluded.items())[:5])
        raise CanaryflowError(
            f"promote {flow}/{model}: no eligible runs" + (f" ({why})" if why else "")
        )
    _require_enough(flow, model, len(selection.runs), "promote")
    used = [r.run_id for r in selection.runs]
    computed = stats_fn(selection.runs, store.items_for_runs(used))
    wanted = None if subjects is None else set(subjects)
    per_key = {
        key: _metric_stats(key, value)
        for key, value in sorted(computed.items())
        if wanted is None or key[0] in wanted
    }
    if not per_key:
        raise CanaryflowError(
            f"promote {flow}/{model}: the stats function produced no (subject, metric) "
            f"from {len(used)} runs" + (f" for subjects {sorted(wanted)!r}" if wanted else "")
        )
    window = Window(selection.runs[0].as_of, selection.runs[-1].as_of)
    stored: list[Baseline] = []
    with store.transaction() as conn:
        for (subject, metric), ms in per_key.items():
            stored.append(
                store.save_baseline(
                    Baseline(
                        flow=flow,
                        model=model,
                        subject=subject,
                        metric=metric,
                        n=ms.n,
                        stats=ms.stats,
                        window_start=window.start,
                        window_end=window.end,
                        run_ids=tuple(used),
                        reason=reason,
                    ),
                    conn=conn,
                )
            )
    return Promotion(tuple(stored), tuple(used), dict(selection.excluded))


def incident_promoter(store: Store, *, note: str = "") -> Callable[[Incident], str]:
    """A ``promote=`` callback for ``IncidentManager.resolve(..., "accepted_change")``:
    :func:`accept_change` (the one meaning of an accepted change)."""

    def _accept(incident: Incident) -> str:
        return accept_change(store, incident, note=note)

    return _accept


def reset(
    store: Store,
    flow: str,
    model: str,
    reason: str,
    *,
    subject: str | None = None,
    metric: str | None = None,
) -> int:
    """Deactivate the active baselines of a flow and model (all, or one subject/metric).

    The next runs then warm up a new baseline. Old versions stay stored for ``show``.

    Returns:
        How many baselines were deactivated.

    Raises:
        CanaryflowError: ``reason`` is empty.
    """
    if not reason.strip():
        raise CanaryflowError("reset needs a reason (it is recorded on the old baselines)")
    with store.transaction() as conn:
        n = store.deactivate_baselines(
            flow, model, subject, metric, reason=f"reset: {reason}", conn=conn
        )
        if subject is None and metric is None:
            store.set_warmup(
                flow, model, reason=f"reset: {reason}", since_started=utcnow(), conn=conn
            )
    return n


def _require_enough(flow: str, model: str, have: int, what: str) -> None:
    need = MIN_BASELINE_RUNS.get(flow, 1)
    if have < need:
        raise CanaryflowError(
            f"{what} {flow}/{model}: {have} eligible run(s); a {flow} baseline needs at least "
            f"{need} (estimated control limits cannot hold their false-alarm rate on fewer). "
            "Widen the window or wait for more runs."
        )


def warmup_runs(store: Store, flow: str, model: str, need: int) -> RunSelection:
    """The newest ``need`` runs that may build the next baseline of (flow, model).

    After a reset, runs started since it; after an accepted change, runs whose ``as_of`` is
    at or after the change (the incident's runs are then resolved, so no longer blocked);
    before any baseline, every run. Only completed runs (never degraded, failed or unfinished)
    outside open incidents count, and never a run that already fed a frozen baseline version.
    """
    w = store.get_warmup(flow, model)
    since = w["since_as_of"] if w else None
    candidates = store.list_runs(flow, model, since=since, newest_first=False)
    if w and w["since_started"] is not None:
        candidates = [r for r in candidates if r.started_at >= w["since_started"]]
    fed = store.frozen_run_ids(flow, model) if w is None else set()
    blocked = store.open_incident_run_ids(flow, model)
    excluded: dict[str, str] = {}
    selected = []
    for r in candidates:
        if r.run_id in blocked:
            excluded[r.run_id] = "contributed to an open incident"
        elif r.status != "completed":
            excluded[r.run_id] = f"status {r.status!r}"
        elif r.run_id in fed:
            excluded[r.run_id] = "already fed a baseline"
        else:
            selected.append(r)
    selected.sort(key=lambda r: (r.as_of, r.run_id))
    return RunSelection(selected[-need:], excluded)


def freeze(
    store: Store,
    flow: str,
    model: str,
    new: Sequence[Baseline],
    *,
    payloads: Mapping[tuple[str, str], Mapping[str, Any]] | None = None,
) -> list[Baseline]:
    """Store every subject of a model's new baselines, and their payloads, in ONE transaction.

    Either the whole baseline exists or none of it: a kill in between can never leave a model
    monitored on some subjects and silently unmonitored on others. Clears the warm-up request.
    Returns [] when another process froze a baseline first (it is kept, not replaced).
    """
    runs = {rid for b in new for rid in b.run_ids}
    _require_enough(flow, model, len(runs), "freeze")
    stored: list[Baseline] = []
    with store.transaction() as conn:
        store.lock(conn, f"baselines:{flow}:{model}")
        if store.list_baselines(flow, model, conn=conn):
            return []  # another process froze it first (two runs finished the warm-up at once)
        for b in new:
            saved = store.save_baseline(b, conn=conn)
            stored.append(saved)
            for name, payload in (payloads or {}).get((b.subject, b.metric), {}).items():
                store.save_baseline_payload(saved, name, payload, conn=conn)
        store.clear_warmup(flow, model, conn=conn)
    return stored


def accept_change(store: Store, incident: Incident, *, note: str = "") -> str:
    """Resolve-as-accepted-change: rebuild (flow, model)'s baselines from the change onwards.

    Deactivates the model's baselines of the incident's flow and asks for the next baseline to
    be warmed up from runs at or after the change's first window (the earliest of the
    incident's alerts), in one transaction. The flow's next run freezes it as soon as enough
    runs exist (often at once, from the hours the incident spanned plus those since). Returns a
    sentence for the incident history.
    """
    starts = [a.first_window or a.as_of for a in incident.alerts if (a.first_window or a.as_of)]
    since = min(starts) if starts else incident.opened_at
    reason = f"accepted change ({incident.incident_id})" + (f": {note}" if note else "")
    with store.transaction() as conn:
        n = store.deactivate_baselines(incident.flow, incident.model, reason=reason, conn=conn)
        store.set_warmup(incident.flow, incident.model, reason=reason, since_as_of=since, conn=conn)
    return (
        f"{n} {incident.flow} baseline(s) of {incident.model} retired; the next baseline is "
        f"built from runs since {since:%Y-%m-%d %H:%M} UTC (the change)"
    )


def baseline_summary(b: Baseline) -> dict[str, Any]:
    """A plain, JSON-able description of a baseline for ``baseline show`` and reports."""
    small = b.n < MIN_RELIABLE_N
    return {
        "key": f"{b.flow}/{b.model}/{b.subject}/{b.metric}",
        "flow": b.flow,
        "model": b.model,
        "subject": b.subject,
        "metric": b.metric,
        "version": b.baseline_version,
        "active": b.active,
        "n": b.n,
        "small_baseline": small,
        "window_start": b.window_start.isoformat() if b.window_start else None,
        "window_end": b.window_end.isoformat() if b.window_end else None,
        "runs": len(b.run_ids),
        "created_at": b.created_at.isoformat(),
        "reason": b.reason,
        "stats": b.stats,
        "note": (
            f"baseline size m = {b.n} < {MIN_RELIABLE_N}: control limits are widened or "
            "calibrated by simulation for this m (DESIGN.md §4)"
            if small
            else ""
        ),
    }


def render_baseline(b: Baseline) -> str:
    """A few plain-text lines describing a baseline (no markup; the CLI may style them)."""
    s = baseline_summary(b)
    window = f"{s['window_start'] or '-'} .. {s['window_end'] or '-'}"
    stats = ", ".join(f"{k}={_short(v)}" for k, v in sorted(b.stats.items())) or "-"
    lines = [
        f"{s['key']}  v{b.baseline_version} ({'active' if b.active else 'inactive'})",
        f"  n = {b.n} from {s['runs']} runs, window {window}",
        f"  stats: {stats}",
        f"  created {s['created_at']}: {b.reason or '-'}",
    ]
    if s["note"]:
        lines.append(f"  note: {s['note']}")
    return "\n".join(lines)


def _short(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    text = str(value)
    return text if len(text) <= 40 else text[:37] + "..."
