"""The production record and user-signal fields (DESIGN §6), and their validation as SQL.

Validation is written once, as DuckDB expressions over the raw text of each field, so the fast
typed read, the lenient line-by-line read that names ``file:line: field``, and every source
format apply the same rules. A row that breaks one is quarantined, never fatal.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "FINISH_REASONS",
    "Field",
    "RECORD_FIELDS",
    "SIGNAL_FIELDS",
    "SIGNAL_TYPES",
    "invalid_expr",
    "typed_expr",
]


@dataclass(frozen=True)
class Field:
    """One canonical field: its DuckDB type, whether a row needs it, and its lower bound."""

    name: str
    sql_type: str
    required: bool = False
    min_value: float | None = None


RECORD_FIELDS: tuple[Field, ...] = (
    Field("request_id", "VARCHAR", required=True),
    Field("timestamp", "TIMESTAMPTZ", required=True),
    Field("feature_id", "VARCHAR", required=True),
    Field("model_id", "VARCHAR", required=True),
    Field("user_id", "VARCHAR"),
    Field("session_id", "VARCHAR"),
    Field("input", "VARCHAR"),
    Field("output", "VARCHAR"),
    Field("latency_ms", "DOUBLE", min_value=0),
    Field("ttft_ms", "DOUBLE", min_value=0),
    Field("tbt_ms", "DOUBLE", min_value=0),
    Field("input_tokens", "BIGINT", min_value=0),
    Field("output_tokens", "BIGINT", min_value=0),
    Field("cost_usd", "DOUBLE", min_value=0),
    Field("finish_reason", "VARCHAR"),
    Field("error", "VARCHAR"),
    Field("system_fingerprint", "VARCHAR"),
)
"""A production request (one per row). Only the first four are required."""

SIGNAL_FIELDS: tuple[Field, ...] = (
    Field("request_id", "VARCHAR"),
    Field("session_id", "VARCHAR"),
    Field("signal_type", "VARCHAR", required=True),
    Field("timestamp", "TIMESTAMPTZ"),
    Field("metadata", "VARCHAR"),
)

SIGNAL_TYPES = (
    "thumbs_up",
    "thumbs_down",
    "correction",
    "follow_up",
    "abandon",
    "task_complete",
    "report",
)
"""Signal types the metrics read (others are kept but not counted)."""

FINISH_REASONS = ("stop", "length", "refusal", "tool_use", "error")
"""DESIGN §7's normalized reasons; a provider's own spelling is mapped onto them on read."""

_FINISH_ALIASES = {
    "end_turn": "stop",
    "stop_sequence": "stop",
    "max_tokens": "length",
    "content_filter": "refusal",
    "tool_calls": "tool_use",
    "function_call": "tool_use",
}


def typed_expr(f: Field, raw: str) -> str:
    """SQL turning the raw value ``raw`` into the field's type (NULL when it does not convert)."""
    if f.name == "finish_reason":
        cases = " ".join(f"WHEN '{k}' THEN '{v}'" for k, v in _FINISH_ALIASES.items())
        return f"(CASE lower({raw}) {cases} ELSE lower({raw}) END)"
    if f.sql_type == "VARCHAR":
        return f"CAST({raw} AS VARCHAR)"
    if f.sql_type == "BIGINT":
        # "12.0" from a CSV written by pandas is still a token count.
        return f"TRY_CAST(TRY_CAST({raw} AS DOUBLE) AS BIGINT)"
    return f"TRY_CAST({raw} AS {f.sql_type})"


def invalid_expr(fields: tuple[Field, ...], raw: dict[str, str], typed: dict[str, str]) -> str:
    """SQL naming the first invalid field of a row and why, or NULL for a valid row.

    ``raw`` maps a field to the expression of its value as read (NULL when absent), ``typed``
    to the converted value.
    """
    cases = []
    for f in fields:
        r, t = raw[f.name], typed[f.name]
        if f.required and f.sql_type == "VARCHAR":
            cases.append(f"WHEN {r} IS NULL OR {r} = '' THEN '{f.name}: missing'")
        elif f.required:
            # Typed: an empty or unparseable value is caught by the conversion rule below.
            cases.append(f"WHEN {r} IS NULL THEN '{f.name}: missing'")
        if f.sql_type != "VARCHAR":
            cases.append(
                f"WHEN {r} IS NOT NULL AND {t} IS NULL "
                f"THEN '{f.name}: not a {f.sql_type.lower()}: ' || left(CAST({r} AS VARCHAR), 40)"
            )
        if f.min_value is not None:
            cases.append(f"WHEN {t} < {f.min_value} THEN '{f.name}: below {f.min_value:g}'")
        if f.name == "finish_reason":
            allowed = ", ".join(f"'{v}'" for v in FINISH_REASONS)
            cases.append(
                f"WHEN {t} IS NOT NULL AND {t} NOT IN ({allowed}) "
                f"THEN 'finish_reason: unknown ' || left({t}, 40)"
            )
    return "CASE " + " ".join(cases) + " ELSE NULL END"
