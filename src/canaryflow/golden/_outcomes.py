"""Collapse the attempts at one item into one outcome: the item, not the attempt, is the unit.

Repetitions of an item at temperature 0 are strongly correlated (the same prompt, usually the
same reply), so treating them as independent observations would overstate the evidence by the
number of repetitions. Each item therefore contributes one pass/fail (the majority of its
successful attempts; a tie counts as a failure, so a flaky item never reads as solid) and one
mean score per judge dimension, which the paired tests then compare item by item.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from canaryflow.records import ItemResult

__all__ = ["ItemOutcome", "JudgeScores", "collapse"]

JudgeScores = Mapping[tuple[str, int], Mapping[str, float | None]]
"""``{(item_id, attempt): {dimension: score or None}}``; None is an unjudged or unparseable
reply (a judge error, never a score)."""


class ItemOutcome(BaseModel):
    """One item of one run, its attempts collapsed."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    item_id: str
    """``<set>/<item>``."""
    set: str
    category: str
    attempts: int
    """Attempts made (repetitions)."""
    passes: int
    """Attempts whose checks all passed."""
    errors: int
    """Attempts that failed at the provider (no verdict)."""
    passed: bool | None
    """Majority of the successful attempts passed; None when every attempt errored."""
    scores: dict[str, float] = Field(default_factory=dict)
    """Mean judge score per dimension over the judged attempts."""
    judged: int = 0
    """Attempts that got a judge verdict (for any dimension)."""
    judge_errors: int = 0
    """Attempts sent to the judge that came back without a usable score."""
    output: str = ""
    """The first successful output (what the report shows)."""
    input: str = ""
    expected: Any = None
    context: str | None = None
    failing: str = ""
    """The first failing check of the first failing attempt: ``name: reason``."""

    @property
    def pass_share(self) -> float | None:
        """Share of successful attempts that passed (None when all errored)."""
        done = self.attempts - self.errors
        return self.passes / done if done else None

    @property
    def flaky(self) -> bool:
        """Repetitions disagreed (some passed, some failed)."""
        share = self.pass_share
        return share is not None and 0.0 < share < 1.0


def _collapse_one(item_id: str, rows: list[ItemResult], judge: JudgeScores | None) -> ItemOutcome:
    rows.sort(key=lambda r: r.attempt)
    first = rows[0]
    ok = [r for r in rows if r.passed is not None]
    passes = sum(1 for r in ok if r.passed)
    passed = None if not ok else passes * 2 > len(ok)
    failing = ""
    for r in ok:
        bad = next((c for c in r.checks if not c.passed), None)
        if bad is not None:
            failing = f"{bad.name}: {bad.reason}"
            break
    sums: dict[str, list[float]] = {}
    judged = judge_errors = 0
    if judge is not None:
        for r in ok:
            verdict = judge.get((item_id, r.attempt))
            if verdict is None:
                continue
            usable = {k: v for k, v in verdict.items() if v is not None}
            if len(usable) < len(verdict) or not verdict:
                judge_errors += 1
            if usable:
                judged += 1
            for dim, value in usable.items():
                sums.setdefault(dim, []).append(float(value))
    extra = first.extra
    return ItemOutcome(
        item_id=item_id,
        set=str(extra.get("set", item_id.split("/", 1)[0])),
        category=str(extra.get("category", first.subject.rsplit("/", 1)[-1])),
        attempts=len(rows),
        passes=passes,
        errors=len(rows) - len(ok),
        passed=passed,
        scores={dim: sum(v) / len(v) for dim, v in sums.items()},
        judged=judged,
        judge_errors=judge_errors,
        output=ok[0].output if ok else (first.error or ""),
        input=str(extra.get("input", "")),
        expected=extra.get("expected"),
        context=extra.get("context"),
        failing=failing,
    )


def collapse(
    results: Iterable[ItemResult], judge: JudgeScores | None = None
) -> dict[str, ItemOutcome]:
    """One :class:`ItemOutcome` per item id, in first-seen order.

    Args:
        results: The attempts of one run (any order, several sets).
        judge: Judge verdicts per attempt (see :data:`JudgeScores`); attempts missing from it
            were not sent to the judge and count neither as judged nor as errors.
    """
    groups: dict[str, list[ItemResult]] = {}
    for r in results:
        groups.setdefault(r.item_id, []).append(r)
    return {item_id: _collapse_one(item_id, rows, judge) for item_id, rows in groups.items()}
