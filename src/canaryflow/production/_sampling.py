"""Deterministic judge sampling and the hard-block safety patterns.

Sampling hashes the request id (sha256, optionally salted) and keeps it when the first 64 bits,
read as a fraction of 2**64, fall below the feature's rate. No state is stored: every worker, a
rerun and a backfill pick the same requests, and a higher rate picks a superset. A rubric with
its own salt draws a sample independent of the others. The Python function and the SQL
expression give the same answer (tested on many ids).

The safety patterns are the fast path that runs on every record, as one case-insensitive
regular expression inside the DuckDB scan; what matches is queued for human review.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Mapping, Sequence

__all__ = [
    "DEFAULT_SAFETY_PATTERNS",
    "is_sampled",
    "safety_regex",
    "sample_condition",
    "threshold",
]

_SPACE = 2**64

DEFAULT_SAFETY_PATTERNS: tuple[str, ...] = (
    r"\b(instructions? for making|how to make|synthesi[sz]e|synthesi[sz]ing)\b.{0,50}"
    r"\b(explosives?|bombs?|poisons?|nerve agents?)\b",
    r"\b(kill yourself|commit suicide|end your life)\b",
    r"\b(child sexual|sexual(ly)? .{0,20}\bchild|csam)\b",
)
"""Hard-block patterns (the seeds' list, tightened to word boundaries)."""


def threshold(rate: float) -> int:
    """The 64-bit cut-off for ``rate``: a hash below it is sampled."""
    if not 0 <= rate <= 1:
        raise ValueError(f"sample rate {rate} is not within [0, 1]")
    return min(_SPACE, int(rate * _SPACE))


def is_sampled(request_id: str, rate: float, salt: str = "") -> bool:
    """Whether ``request_id`` is in the judge sample at ``rate`` (reference implementation)."""
    digest = hashlib.sha256((salt + request_id).encode()).digest()
    return int.from_bytes(digest[:8], "big") < threshold(rate)


def _lit(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def sample_condition(
    default_rate: float, rates: Mapping[str, float] | None = None, salt: str = ""
) -> str:
    """SQL condition over ``request_id``/``feature_id`` equal to :func:`is_sampled`."""
    h = f"('0x' || substr(sha256({_lit(salt)} || request_id), 1, 16))::UBIGINT"
    parts = [f"WHEN {_lit(f)} THEN {_cut(r, h)}" for f, r in (rates or {}).items()]
    default = _cut(default_rate, h)
    return f"(CASE feature_id {' '.join(parts)} ELSE {default} END)" if parts else default


def _cut(rate: float, h: str) -> str:
    t = threshold(rate)
    if t >= _SPACE:
        return "true"
    if t == 0:
        return "false"
    return f"({h} < {t}::UBIGINT)"


def safety_regex(patterns: Sequence[str] | None) -> str | None:
    """One case-insensitive regex of all patterns (None when there are none).

    Raises:
        ValueError: a pattern does not compile (names it).
    """
    patterns = DEFAULT_SAFETY_PATTERNS if patterns is None else tuple(patterns)
    for p in patterns:
        try:
            re.compile(p)
        except re.error as exc:
            raise ValueError(f"[production] safety_patterns: {p!r}: {exc}") from exc
    if not patterns:
        return None
    return "(?i)" + "|".join(f"(?:{p})" for p in patterns)
