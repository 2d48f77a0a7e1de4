"""Window aggregates as SQL: one description per metric set, three ways to run it.

A metric set is a list of *sums* (counts, token totals, cost in integer nano-dollars, times in
integer microseconds), *value lists* (for exact interpolated quantiles) and *distinct sets*
(sessions, users). From that one description come:

* the single-pass query: ``sum``, ``quantile_cont`` and ``count(DISTINCT)`` straight over the
  records (what one process runs);
* the partial query: the same sums, and the values and distinct keys as lists per group -- the
  sufficient statistics of a chunk of records;
* the merge query over the partials of all chunks: sums add, lists concatenate and then go
  through the very same ``quantile_cont`` and distinct count.

Integer sums and the same quantile function on the same multiset make chunked + merged equal to
single-pass *exactly*, not to a tolerance. Python only turns the final counts into rates, once
per group, never once per record.
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

__all__ = [
    "KEYS",
    "METRIC_SETS",
    "MetricSet",
    "OPS",
    "QUANTILES",
    "SIGNALS",
    "USERS",
    "finalize",
    "merge_query",
    "partial_query",
    "single_query",
]

QUANTILES = (0.5, 0.95, 0.99)
KEYS = ("window_start", "feature_id", "model_id")


@dataclass(frozen=True)
class MetricSet:
    """What one metric set aggregates, from which relation, grouped by which keys."""

    name: str
    relation: str
    """The relation it reads (``scoped``, ``scoped_all``, ``signalled``: see ``_engine._setup``)."""
    keys: tuple[str, ...]
    sums: dict[str, str]
    lists: dict[str, tuple[str, str]]
    """name -> (value expression, filter condition) for quantiles."""
    distinct: dict[str, tuple[str, str]]
    """name -> (key expression, filter condition) for distinct counts."""


_COUNT = "COUNT WHERE "


def _flag(cond: str) -> str:
    """A count of the rows where ``cond`` holds (``count(*) FILTER``: far cheaper than a sum)."""
    return _COUNT + cond


def _agg(expr: str) -> str:
    if expr.startswith(_COUNT):
        return f"count(*) FILTER (WHERE {expr[len(_COUNT) :]})"
    return f"sum({expr})::BIGINT"


_OK = "error IS NULL AND coalesce(finish_reason, '') <> 'error'"

OPS = MetricSet(
    name="ops",
    relation="scoped",
    keys=KEYS,
    sums={
        "n": _flag("true"),
        "n_error": _flag(f"NOT ({_OK})"),
        "n_refusal": _flag("finish_reason = 'refusal'"),
        "n_truncated": _flag("finish_reason = 'length'"),
        "input_tokens": "coalesce(input_tokens, 0)",
        "output_tokens": "coalesce(output_tokens, 0)",
        "n_cost": _flag("cost_usd IS NOT NULL"),
        "cost_nusd": "coalesce(CAST(round(cost_usd * 1e9) AS BIGINT), 0)",
        # Generation time (after the first token) of successful requests, for tokens/s.
        "gen_us": f"CASE WHEN {_OK} AND latency_ms IS NOT NULL AND output_tokens IS NOT NULL "
        "THEN CAST(round((latency_ms - coalesce(ttft_ms, 0)) * 1000) AS BIGINT) ELSE 0 END",
        "gen_tokens": f"CASE WHEN {_OK} AND latency_ms IS NOT NULL "
        "THEN coalesce(output_tokens, 0) ELSE 0 END",
    },
    lists={
        "latency_ms": ("latency_ms", _OK),
        "ttft_ms": ("ttft_ms", _OK),
        "tbt_ms": ("tbt_ms", _OK),
    },
    # Distinct users per window live in the ``users`` set: a count(DISTINCT) here cost a third
    # of the scan's CPU.
    distinct={},
)

SIGNALS = MetricSet(
    name="signals",
    relation="signalled",
    keys=KEYS,
    sums={
        "n": _flag("true"),
        "n_feedback": _flag("s_up OR s_down"),
        "n_thumbs_up": _flag("s_up"),
        "n_thumbs_down": _flag("s_down"),
        "n_correction": _flag("s_correction"),
        "n_follow_up": _flag("s_follow_up"),
        "n_report": _flag("s_report"),
        "n_in_session": _flag("session_id IS NOT NULL"),
    },
    lists={},
    distinct={
        "sessions": ("session_id", "session_id IS NOT NULL"),
        "sessions_feedback": ("session_id", "s_up OR s_down"),
        "sessions_abandoned": ("session_id", "x_abandoned"),
        "sessions_completed": ("session_id", "x_completed"),
    },
)

USERS = MetricSet(
    name="users",
    # From the top of the hour, so the hour-to-date spend is exact whatever the run's start.
    relation="scoped_all",
    keys=("window_start", "user_id"),
    sums={"n": _flag("true"), "cost_nusd": "coalesce(CAST(round(cost_usd * 1e9) AS BIGINT), 0)"},
    lists={},
    distinct={},
)

METRIC_SETS = {m.name: m for m in (OPS, SIGNALS, USERS)}


SIGNALLED_SQL = """
  WITH per_request AS (
    SELECT request_id,
           bool_or(signal_type = 'thumbs_up') AS s_up,
           bool_or(signal_type = 'thumbs_down') AS s_down,
           bool_or(signal_type = 'correction') AS s_correction,
           bool_or(signal_type = 'follow_up') AS s_follow_up,
           bool_or(signal_type = 'report') AS s_report
    FROM signals WHERE _invalid IS NULL AND request_id IS NOT NULL GROUP BY request_id
  ), per_session AS (
    SELECT session_id,
           bool_or(signal_type = 'abandon') AS x_abandoned,
           bool_or(signal_type = 'task_complete') AS x_completed
    FROM signals WHERE _invalid IS NULL AND session_id IS NOT NULL GROUP BY session_id
  )
  SELECT r.window_start, r.feature_id, r.model_id, r.request_id, r.session_id,
         coalesce(q.s_up, false) AS s_up, coalesce(q.s_down, false) AS s_down,
         coalesce(q.s_correction, false) AS s_correction,
         coalesce(q.s_follow_up, false) AS s_follow_up, coalesce(q.s_report, false) AS s_report,
         coalesce(x.x_abandoned, false) AS x_abandoned,
         coalesce(x.x_completed, false) AS x_completed
  FROM scoped r
  LEFT JOIN per_request q ON q.request_id = r.request_id
  LEFT JOIN per_session x ON x.session_id = r.session_id"""


def _qlist() -> str:
    return "[" + ", ".join(repr(q) for q in QUANTILES) + "]"


def single_query(m: MetricSet) -> str:
    """The whole metric set in one pass over ``m.relation``."""
    cols = [f"{_agg(e)} AS {k}" for k, e in m.sums.items()]
    cols += [
        f"quantile_cont(CASE WHEN {c} THEN {v} END, {_qlist()}) AS q_{k}"
        for k, (v, c) in m.lists.items()
    ]
    cols += [
        f"count(DISTINCT {v}) FILTER (WHERE {c})::BIGINT AS d_{k}"
        for k, (v, c) in m.distinct.items()
    ]
    keys = ", ".join(m.keys)
    return f"SELECT {keys}, {', '.join(cols)} FROM {m.relation} GROUP BY {keys}"


def partial_query(m: MetricSet) -> str:
    """Sufficient statistics of one chunk: sums, value lists and distinct-key lists."""
    cols = [f"{_agg(e)} AS {k}" for k, e in m.sums.items()]
    cols += [
        f"coalesce(list({v}) FILTER (WHERE {c} AND {v} IS NOT NULL), []) AS l_{k}"
        for k, (v, c) in m.lists.items()
    ]
    cols += [
        f"coalesce(list(DISTINCT {v}) FILTER (WHERE {c} AND {v} IS NOT NULL), []) AS s_{k}"
        for k, (v, c) in m.distinct.items()
    ]
    keys = ", ".join(m.keys)
    return f"SELECT {keys}, {', '.join(cols)} FROM {m.relation} GROUP BY {keys}"


def merge_query(m: MetricSet, partials: str) -> str:
    """Merge the partials in relation ``partials`` into the single-pass result, exactly."""
    cols = [f"sum({k})::BIGINT AS {k}" for k in m.sums]
    cols += [
        f"CASE WHEN len(flatten(list(l_{k}))) > 0 THEN "
        f"list_aggregate(flatten(list(l_{k})), 'quantile_cont', {_qlist()}) END AS q_{k}"
        for k in m.lists
    ]
    cols += [f"len(list_distinct(flatten(list(s_{k}))))::BIGINT AS d_{k}" for k in m.distinct]
    keys = ", ".join(m.keys)
    return f"SELECT {keys}, {', '.join(cols)} FROM {partials} GROUP BY {keys}"


def _q(values: object, i: int) -> float | None:
    if values is None:
        return None
    v = values[i]  # type: ignore[index]
    return None if v is None else float(v)


def finalize(m: MetricSet, frame: pd.DataFrame) -> list[dict[str, object]]:
    """Rows of stored metric values (rates, quantiles, USD) from merged or single-pass stats."""
    out = []
    for row in frame.to_dict("records"):
        v: dict[str, object] = {k: row[k] for k in m.keys}
        if m.name == "ops":
            v.update(_ops_values(row))
        elif m.name == "signals":
            v.update(_signal_values(row))
        else:
            v.update({"n": int(row["n"]), "cost_usd": int(row["cost_nusd"]) / 1e9})
        out.append(v)
    return out


def _rate(num: object, den: object) -> float | None:
    d = int(den)  # type: ignore[call-overload]
    return int(num) / d if d else None  # type: ignore[call-overload]


def _ops_values(r: dict[str, object]) -> dict[str, object]:
    n = int(r["n"])  # type: ignore[call-overload]
    vals: dict[str, object] = {
        "n": n,
        "error_rate": _rate(r["n_error"], n),
        "refusal_rate": _rate(r["n_refusal"], n),
        "truncation_rate": _rate(r["n_truncated"], n),
        "n_error": int(r["n_error"]),  # type: ignore[call-overload]
        "n_refusal": int(r["n_refusal"]),  # type: ignore[call-overload]
        "n_truncated": int(r["n_truncated"]),  # type: ignore[call-overload]
        "input_tokens": int(r["input_tokens"]),  # type: ignore[call-overload]
        "output_tokens": int(r["output_tokens"]),  # type: ignore[call-overload]
        "input_tokens_mean": _rate(r["input_tokens"], n),
        "output_tokens_mean": _rate(r["output_tokens"], n),
        "cost_usd": int(r["cost_nusd"]) / 1e9,  # type: ignore[call-overload]
        "cost_per_request_usd": int(r["cost_nusd"]) / 1e9 / n if n else None,  # type: ignore[call-overload]
        "cost_coverage": _rate(r["n_cost"], n),
        "tokens_per_s": (
            int(r["gen_tokens"]) / (int(r["gen_us"]) / 1e6)  # type: ignore[call-overload]
            if int(r["gen_us"]) > 0  # type: ignore[call-overload]
            else None
        ),
    }
    for name in ("latency_ms", "ttft_ms", "tbt_ms"):
        for i, q in enumerate(QUANTILES):
            vals[f"{name}_p{round(q * 100)}"] = _q(r[f"q_{name}"], i)
    return vals


def _signal_values(r: dict[str, object]) -> dict[str, object]:
    n = int(r["n"])  # type: ignore[call-overload]
    sessions = int(r["d_sessions"])  # type: ignore[call-overload]
    return {
        "n": n,
        "feedback_rate": _rate(r["n_feedback"], n),
        "feedback_coverage": _rate(r["d_sessions_feedback"], sessions),
        "satisfaction": _rate(
            r["n_thumbs_up"],
            int(r["n_thumbs_up"]) + int(r["n_thumbs_down"]),  # type: ignore[call-overload]
        ),
        "thumbs_up": int(r["n_thumbs_up"]),  # type: ignore[call-overload]
        "thumbs_down": int(r["n_thumbs_down"]),  # type: ignore[call-overload]
        "correction_rate": _rate(r["n_correction"], n),
        "follow_up_rate": _rate(r["n_follow_up"], n),
        "report_rate": _rate(r["n_report"], n),
        "sessions": sessions,
        "abandonment_rate": _rate(r["d_sessions_abandoned"], sessions),
        "task_completion_rate": _rate(r["d_sessions_completed"], sessions),
        "turns_per_session": _rate(r["n_in_session"], sessions),
    }
