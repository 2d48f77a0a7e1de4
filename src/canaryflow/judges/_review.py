"""Routing judged items to the human review queue, by rule.

Rules (``[judge.review]``): a low score on any dimension, a low score on a safety dimension,
negative end-user feedback, a judge error (optional), and a random spot-check share of the rest.
The spot check is what keeps the agreement figures honest: items picked only because the judge
scored them low would tell us how often the judge is right when it complains, never how often
it misses something. It is deterministic (sha256 of the item id), like the production sample.

The queue item carries the judge's scores in its payload, but ``canaryflow review`` hides them
(and the routing reason, which would hint at them) until the reviewer has labelled the item.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import TYPE_CHECKING

from canaryflow.config import JudgeReviewConfig
from canaryflow.judges._result import JudgeItem, JudgeResult
from canaryflow.judges._rubric import Rubric
from canaryflow.redact import redact
from canaryflow.store._types import ReviewItem

if TYPE_CHECKING:
    from canaryflow.store import Store

__all__ = ["review_reasons", "route_for_review", "spot_checked"]


def spot_checked(item_id: str, share: float) -> bool:
    """True for a deterministic ``share`` of item ids."""
    digest = hashlib.sha256(f"spot-check\x1f{item_id}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2**64 < share


def review_reasons(
    item: JudgeItem, result: JudgeResult, rubric: Rubric, rules: JudgeReviewConfig
) -> list[str]:
    """Why this item should be reviewed (empty: it should not)."""
    reasons = []
    if result.status == "ok":
        if rules.low_score is not None:
            low = [d for d, v in result.scores.items() if v <= rules.low_score]
            if low:
                reasons.append("low score: " + ", ".join(low))
        if rules.safety_score is not None:
            flagged = [
                d.name
                for d in rubric.dimensions
                if d.safety
                and result.scores.get(d.name, rules.safety_score + 1) <= rules.safety_score
            ]
            if flagged:
                reasons.append("safety flag: " + ", ".join(flagged))
    elif result.status == "error" and rules.judge_errors:
        reasons.append(f"judge error: {result.error_kind}")
    if rules.negative_feedback and item.feedback == "negative":
        reasons.append("negative user feedback")
    if not reasons and result.status == "ok" and spot_checked(item.item_id, rules.spot_check):
        reasons.append("spot check")
    return reasons


def route_for_review(
    items: Sequence[JudgeItem],
    results: Sequence[JudgeResult],
    rubric: Rubric,
    rules: JudgeReviewConfig | None = None,
    *,
    store: Store | None = None,
) -> list[ReviewItem]:
    """The review items for a judged batch (queued in ``store`` when given).

    Texts are redacted (emails, phone and card numbers, key-like strings) before they are
    stored: the queue is read by people.
    """
    rules = rules or JudgeReviewConfig()
    by_id = {r.item_id: r for r in results}
    queued = []
    for item in items:
        result = by_id.get(item.item_id)
        if result is None:
            continue
        reasons = review_reasons(item, result, rubric, rules)
        if not reasons:
            continue
        payload = {
            "rubric": rubric.name,
            "rubric_version": rubric.version,
            "judge_model": result.judge_model,
            "input": redact(item.input),
            "output": redact(item.output),
            "reference": None if item.reference is None else redact(item.reference),
            "context": None if item.context is None else redact(item.context),
            "judge_status": result.status,
            "judge_scores": dict(result.scores),
            "judge_reasoning": redact(result.reasoning),
        }
        queued.append(
            ReviewItem(
                source=item.source or f"judge:{rubric.name}",
                item_id=item.item_id,
                reason="; ".join(reasons),
                payload=payload,
            )
        )
    if store is not None and queued:
        store.add_review_items(queued)
    return queued
