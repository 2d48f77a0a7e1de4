"""Pairwise judging (A vs B on the same input), for the upgrade gate and ``compare``.

A judge that sees two answers tends to prefer the one shown first (position bias). So every pair
is asked in both orders, ``samples`` times each; per order and dimension the strict majority of
the samples is that order's answer (no majority: tie); the two orders must then agree once the
second is mapped back (its A is our B), and when they do not, the judge preferred a position,
not an answer, and the verdict is a tie. The calls go through the judge's cache and budget.
"""

from __future__ import annotations

import hashlib
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from canaryflow.judges._budget import Budget, Ledger
from canaryflow.judges._parse import Verdict, parse_preference
from canaryflow.judges._prompt import build_pairwise_request, canonical
from canaryflow.judges._result import PairwiseResult
from canaryflow.records import Completion, CompletionRequest

if TYPE_CHECKING:
    from canaryflow.judges._judge import Job, Outcome
    from canaryflow.judges._prompt import Mode
    from canaryflow.judges._rubric import Rubric
    from canaryflow.providers import ModelClient

__all__ = ["PairItem", "PairwiseMixin"]


@dataclass(frozen=True)
class PairItem:
    """Two outputs for the same input, compared by the pairwise judge."""

    item_id: str
    input: str
    a: str
    b: str
    reference: str | None = None
    context: str | None = None


def _majority(votes: Sequence[str]) -> str:
    """The strict-majority preference of one order's samples, else a tie."""
    counts = Counter(votes)
    best, n = counts.most_common(1)[0]
    return best if n * 2 > len(votes) else "tie"


class _JudgeSelf(Protocol):
    """What :class:`PairwiseMixin` needs from the :class:`~canaryflow.judges.Judge` it is in.

    The mixin's methods take ``self`` as this protocol (not as ``Judge``, which is a subclass
    and so not a valid self type of the mixin).
    """

    client: ModelClient
    rubric: Rubric
    samples: int
    temperature: float
    max_tokens: int
    mode: Mode

    def _params(self) -> dict[str, Any]: ...
    def _worst_usd(self, request: CompletionRequest) -> tuple[int, float]: ...
    async def _run(
        self, groups: Sequence[Sequence[Job]], budget: Budget | None
    ) -> tuple[list[list[Outcome] | None], Ledger]: ...
    def _pair_jobs(self, pair: PairItem) -> list[Job]: ...
    def _parse_pair(self, completion: Completion) -> Verdict: ...
    def _pair_result(self, pair: PairItem, outcomes: list[Outcome] | None) -> PairwiseResult: ...
    async def pairwise(
        self, pairs: Sequence[PairItem], *, budget: Budget | None = None
    ) -> list[PairwiseResult]: ...


class PairwiseMixin:
    """The pairwise half of :class:`~canaryflow.judges.Judge`."""

    def _pair_jobs(self: _JudgeSelf, pair: PairItem) -> list[Job]:
        """``samples`` jobs with A first, then ``samples`` with B first."""
        from canaryflow.judges._judge import Job  # noqa: F811  (runtime: _judge imports us)

        jobs = []
        for first, second in ((pair.a, pair.b), (pair.b, pair.a)):
            request = build_pairwise_request(
                self.rubric,
                input=pair.input,
                first=first,
                second=second,
                reference=pair.reference,
                context=pair.context,
                mode=self.mode,
                temperature=self.temperature,
                max_tokens=self.max_tokens,
            )
            _, worst = self._worst_usd(request)
            for repeat in range(self.samples):
                payload = {
                    **self._params(),
                    "kind": "pairwise",
                    "input": pair.input,
                    "first": first,
                    "second": second,
                    "reference": pair.reference,
                    "context": pair.context,
                    "repeat": repeat,
                }
                key = hashlib.sha256(canonical(payload).encode()).hexdigest()
                jobs.append(Job(key, repeat, request, self._parse_pair, worst))
        return jobs

    def _parse_pair(self: _JudgeSelf, completion: Completion) -> Verdict:
        return parse_preference(self.rubric, completion)

    async def pairwise(
        self: _JudgeSelf, pairs: Sequence[PairItem], *, budget: Budget | None = None
    ) -> list[PairwiseResult]:
        """A vs B per pair, asked in both orders (A first, then B first), ``samples`` times each.

        Per order and dimension the samples' strict majority is the answer (no majority: tie).
        The two orders must agree once the second is mapped back; if they do not, the judge
        preferred a *position*, not an answer, and the verdict is a tie.
        """
        outcomes, _ = await self._run([self._pair_jobs(p) for p in pairs], budget)
        return [self._pair_result(p, o) for p, o in zip(pairs, outcomes, strict=True)]

    def pairwise_sync(
        self: _JudgeSelf, pairs: Sequence[PairItem], *, budget: Budget | None = None
    ) -> list[PairwiseResult]:
        """:meth:`pairwise` from synchronous code."""
        from canaryflow.judges._judge import _run_sync

        return _run_sync(self.pairwise(pairs, budget=budget), self.client)

    def _pair_result(
        self: _JudgeSelf, pair: PairItem, outcomes: list[Outcome] | None
    ) -> PairwiseResult:
        if outcomes is None:
            return PairwiseResult(
                item_id=pair.item_id,
                rubric=self.rubric.name,
                status="unjudged",
                reason="the run's judge budget ran out before this pair",
            )
        new = [o for o in outcomes if not o.cached]
        costs = [o.cost_usd for o in new]
        cost = None if any(c is None for c in costs) else sum(c or 0.0 for c in costs)
        k = self.samples
        orders = (outcomes[:k], outcomes[k:])
        valid = [[o.values for o in order if o.status == "ok"] for order in orders]
        if any(len(v) * 2 <= k for v in valid):
            bad = next(o for o in outcomes if o.status != "ok")
            return PairwiseResult(
                item_id=pair.item_id,
                rubric=self.rubric.name,
                status="error",
                reason=bad.error,
                calls=len(new),
                cost_usd=cost,
            )
        swap = {"A": "B", "B": "A", "tie": "tie"}
        prefs: dict[str, Any] = {}
        disagreements = []
        for d in self.rubric.dimension_names:
            one = _majority([v[d] for v in valid[0]])
            two = swap[_majority([v[d] for v in valid[1]])]
            if one == two:
                prefs[d] = one
            else:
                prefs[d] = "tie"
                disagreements.append(d)
        return PairwiseResult(
            item_id=pair.item_id,
            rubric=self.rubric.name,
            status="ok",
            preferences=prefs,
            order_disagreements=tuple(disagreements),
            calls=len(new),
            cost_usd=cost,
        )
