"""The cost-spike investigation an incident carries: who, which requests, which repeated prompts.

The seeds' runbook for a cost spike: look for one user with far more tokens than the rest,
the same prompt sent in a loop, an unusually long context. Each is one grouped DuckDB query
over the records of the spike's time range; the answer is a small dict for the incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from canaryflow.production._engine import _JSON_ERRORS, _us
from canaryflow.production._sources import ProductionSource, connect
from canaryflow.redact import redact

__all__ = ["investigate_cost"]


def _rows(con: Any, sql: str) -> list[dict[str, Any]]:
    frame = con.sql(sql).df()
    return [
        {k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in r.items()}
        for r in frame.to_dict("records")
    ]


def investigate_cost(
    source: ProductionSource,
    start: datetime,
    end: datetime,
    *,
    feature_id: str | None = None,
    top: int = 10,
    min_repeats: int = 3,
) -> dict[str, Any]:
    """Where the money went in ``[start, end)``: top users, requests, repeated prompts.

    Prompt texts are redacted and cut to 200 characters (they end up in incident reports).
    """
    where = f"_invalid IS NULL AND epoch_us(timestamp) >= {_us(start)} "
    where += f"AND epoch_us(timestamp) < {_us(end)}"
    if feature_id is not None:
        where += " AND feature_id = '" + feature_id.replace("'", "''") + "'"
    con = connect()
    try:
        try:
            source.open(con)
            con.execute(f"CREATE TEMP TABLE spend AS SELECT * FROM records WHERE {where}")
        except _JSON_ERRORS:
            source.open(con, lenient=True)
            con.execute(f"CREATE TEMP TABLE spend AS SELECT * FROM records WHERE {where}")
        total = con.execute("SELECT coalesce(sum(cost_usd), 0), count(*) FROM spend").fetchall()[0]
        total_cost = float(total[0]) if total else 0.0
        share = f"sum(cost_usd) / {total_cost}" if total_cost > 0 else "NULL"
        users = _rows(
            con,
            f"""SELECT user_id, count(*) AS n, sum(cost_usd) AS cost_usd, {share} AS share,
                       avg(input_tokens) AS input_tokens_mean,
                       avg(output_tokens) AS output_tokens_mean
                FROM spend GROUP BY user_id ORDER BY cost_usd DESC NULLS LAST LIMIT {top}""",
        )
        requests = _rows(
            con,
            f"""SELECT request_id, timestamp, user_id, feature_id, model_id, cost_usd,
                       input_tokens, output_tokens
                FROM spend ORDER BY cost_usd DESC NULLS LAST LIMIT {top}""",
        )
        prompts = _rows(
            con,
            f"""SELECT md5(input) AS prompt_hash, count(*) AS n,
                       count(DISTINCT user_id) AS users, list(DISTINCT user_id)[1:5] AS user_ids,
                       sum(cost_usd) AS cost_usd, min(timestamp) AS first_seen,
                       max(timestamp) AS last_seen, any_value(input) AS example
                FROM spend WHERE input IS NOT NULL AND input <> ''
                GROUP BY md5(input) HAVING count(*) >= {min_repeats}
                ORDER BY cost_usd DESC NULLS LAST LIMIT {top}""",
        )
        by = {
            dim: {
                r[dim]: r["cost_usd"]
                for r in _rows(
                    con,
                    f"SELECT {dim}, sum(cost_usd) AS cost_usd FROM spend GROUP BY {dim} "
                    "ORDER BY cost_usd DESC NULLS LAST",
                )
            }
            for dim in ("feature_id", "model_id")
        }
    finally:
        con.close()
    for p in prompts:
        p["example"] = redact(p["example"] or "")[:200]
        p["user_ids"] = list(p["user_ids"])
    return {
        "start": start.isoformat(),
        "end": end.isoformat(),
        "requests": int(total[1]) if total else 0,
        "cost_usd": total_cost,
        "top_users": users,
        "top_requests": requests,
        "repeated_prompts": prompts,
        "by_feature": by["feature_id"],
        "by_model": by["model_id"],
    }
