"""What judging produces: per-item results with three states, and run-level aggregates.

A result is ``ok`` (validated scores), ``error`` (the judge failed or replied something invalid;
the reason is kept) or ``unjudged`` (the run's budget ran out before it). Only ``ok`` results
carry scores and only they enter means and medians: an error is never a default score and never
a NaN inside an average; it is counted in the error rate instead.
"""

from __future__ import annotations

import statistics
from collections import Counter
from collections.abc import Sequence
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "DimensionSummary",
    "JudgeItem",
    "JudgeResult",
    "JudgeStatus",
    "JudgeSummary",
    "PairwiseResult",
    "aggregate",
    "combine_samples",
]

JudgeStatus = Literal["ok", "error", "unjudged"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class JudgeItem(_Frozen):
    """One thing to judge: the input, the output, and what it is checked against."""

    item_id: str
    input: str
    output: str
    reference: str | None = None
    """The expected answer or reference facts (golden sets)."""
    context: str | None = None
    """Retrieved context the output must be faithful to (RAG)."""
    source: str = ""
    """Where it comes from (``golden:<set>``, ``production:<feature>``); the review queue key."""
    feedback: Literal["positive", "negative"] | None = None
    """The end user's explicit feedback, if any (negative feedback routes to review)."""


class JudgeResult(_Frozen):
    """The judge's verdict on one item (or why there is none)."""

    version: int = 1
    item_id: str
    source: str = ""
    rubric: str
    rubric_version: int
    judge_model: str
    """The ``[models]`` key of the judge."""
    run_id: str | None = None
    """The run that asked (the cache is shared across runs; this says who used the verdict)."""
    status: JudgeStatus
    scores: dict[str, float] = Field(default_factory=dict)
    """Per dimension, the median over valid samples; empty unless ``status == "ok"``."""
    samples: tuple[dict[str, int], ...] = ()
    """Every valid sample's scores (k entries with ``samples = k``)."""
    reasoning: str = ""
    reason: str | None = None
    """Why there is no verdict (error or unjudged)."""
    error_kind: str | None = None
    """truncated, malformed, out_of_range, missing_dimension, invalid, provider kinds, budget."""
    calls: int = 0
    """Judge calls paid for in this run (0 when everything came from the cache)."""
    cached: int = 0
    """Samples served from the cache."""
    sample_errors: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cost_usd: float | None = None
    """Judge cost of the calls made now (the application's cost is reported elsewhere)."""

    @property
    def ok(self) -> bool:
        """True when the result carries validated scores."""
        return self.status == "ok"


class PairwiseResult(_Frozen):
    """A vs B on one input, asked in both orders; disagreement between orders is a tie."""

    item_id: str
    rubric: str
    status: JudgeStatus
    preferences: dict[str, Literal["A", "B", "tie"]] = Field(default_factory=dict)
    order_disagreements: tuple[str, ...] = ()
    """Dimensions where the two orders disagreed (position bias), counted as ties."""
    reason: str | None = None
    calls: int = 0
    cost_usd: float | None = None


class DimensionSummary(_Frozen):
    """One dimension over a run's valid results."""

    n: int
    mean: float | None
    median: float | None
    disagreement_rate: float | None = None
    """Share of items whose k samples did not all agree (None with one sample)."""


class JudgeSummary(_Frozen):
    """A run's judging in numbers: what was judged, what failed, what it cost."""

    n: int
    ok: int
    errors: int
    unjudged: int
    error_rate: float
    """errors / (ok + errors): unjudged items were never attempted."""
    degraded: bool
    """The error rate is above ``max_error_rate``: the run's judge-based verdicts are not
    trustworthy."""
    error_kinds: dict[str, int] = Field(default_factory=dict)
    dimensions: dict[str, DimensionSummary] = Field(default_factory=dict)
    calls: int = 0
    cached: int = 0
    judge_cost_usd: float | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    budget_exhausted: bool = False


def combine_samples(samples: Sequence[dict[str, int]]) -> tuple[dict[str, float], dict[str, bool]]:
    """Median per dimension over samples, and whether the samples disagreed.

    The median is the robust centre of ordinal scores (a mean of 1-5 scores over k = 3 samples
    would be pulled by one outlier); with an even k it may be a half score.
    """
    dims = samples[0].keys()
    medians = {d: float(statistics.median(s[d] for s in samples)) for d in dims}
    disagree = {d: len({s[d] for s in samples}) > 1 for d in dims}
    return medians, disagree


def aggregate(results: Sequence[JudgeResult], *, max_error_rate: float = 0.1) -> JudgeSummary:
    """Summarise a run's results; only ``ok`` results enter the per-dimension figures."""
    ok = [r for r in results if r.status == "ok"]
    errors = [r for r in results if r.status == "error"]
    unjudged = [r for r in results if r.status == "unjudged"]
    attempted = len(ok) + len(errors)
    error_rate = len(errors) / attempted if attempted else 0.0
    dims: dict[str, DimensionSummary] = {}
    names = list(dict.fromkeys(d for r in ok for d in r.scores))
    for d in names:
        values = [r.scores[d] for r in ok if d in r.scores]
        multi = [r for r in ok if len(r.samples) > 1]
        rate = None
        if multi:
            rate = sum(len({s[d] for s in r.samples}) > 1 for r in multi) / len(multi)
        dims[d] = DimensionSummary(
            n=len(values),
            mean=statistics.fmean(values) if values else None,
            median=float(statistics.median(values)) if values else None,
            disagreement_rate=rate,
        )
    costs = [r.cost_usd for r in results if r.cost_usd is not None]
    return JudgeSummary(
        n=len(results),
        ok=len(ok),
        errors=len(errors),
        unjudged=len(unjudged),
        error_rate=error_rate,
        degraded=error_rate > max_error_rate,
        error_kinds=dict(Counter(r.error_kind or "error" for r in errors)),
        dimensions=dims,
        calls=sum(r.calls for r in results),
        cached=sum(r.cached for r in results),
        judge_cost_usd=sum(costs)
        if costs
        else (0.0 if not any(r.calls for r in results) else None),
        input_tokens=sum(r.input_tokens for r in results),
        output_tokens=sum(r.output_tokens for r in results),
        budget_exhausted=bool(unjudged),
    )
