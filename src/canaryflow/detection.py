"""One typed detection pipeline for every flow: subject tests -> one FDR step -> one verdict
vocabulary -> alerts and report rows.

A flow computes one :class:`SubjectTest` per (subject, metric) it compares with the baseline
(a probe family's pass rate, a golden category's flips, a feature's refusal rate...). Then:

- :func:`decide` applies ONE Benjamini–Hochberg step across all the run's p-valued tests (the
  family of hypotheses of one run) and gives every test a :class:`Verdict` with a reason:
  ``regression`` (significant after FDR, or a chart signal), ``pass`` (not significant and the
  test had the power to see the smallest drop worth a page), ``inconclusive`` (not
  significant but underpowered, or the flow said why: too few items, unreliable baseline, too
  many judge errors) or ``no-data``;
- :func:`alert_for` turns a regression into the :class:`~canaryflow.records.Alert` DESIGN §4
  asks for (metric, subject, baseline and current value, test, statistic, p or limit, m, the
  first window out of control);
- :func:`report_row` turns any verdict into a report row without translating its word.

Counts stay integers (``successes``/``n``), never "3/5" strings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal

from canaryflow.records import Alert, MetricClass, RunRecord
from canaryflow.stats import bh_adjust

__all__ = [
    "SubjectTest",
    "Verdict",
    "alert_for",
    "decide",
    "overall",
    "report_row",
]

Verdict = Literal["pass", "regression", "inconclusive", "no-data"]


@dataclass(frozen=True)
class SubjectTest:
    """One comparison of a subject's metric with its frozen baseline, before FDR."""

    subject: str
    metric: str
    metric_class: MetricClass
    test: str
    """The test's name as reports show it: ``fisher_one_sided``, ``mcnemar_exact``..."""
    baseline_value: float | None
    current_value: float | None
    n: int
    """Current sample size (probes, items, records, windows)."""
    baseline_n: int
    """Baseline size m."""
    p_value: float | None = None
    """One-sided p-value for "worse than the baseline"; None for chart-only tests."""
    statistic: float | None = None
    limit: float | None = None
    signal: bool = False
    """A sequential chart (EWMA, CUSUM) signalled: a regression whatever the p-value."""
    effect: float | None = None
    """Effect size (current - baseline, in the metric's unit)."""
    ci: tuple[float, float] | None = None
    """Confidence interval of the current value or of the effect."""
    power: float | None = None
    """Power to see the smallest change worth a page; below ``min_power`` a quiet result is
    inconclusive, not pass."""
    inconclusive_reason: str = ""
    """Set by the flow when the test cannot be trusted whatever its result."""
    unit: str = ""
    first_window: datetime | None = None
    evidence: Mapping[str, Any] = field(default_factory=dict)
    message: str = ""
    # -- filled by decide() --
    p_adjusted: float | None = None
    verdict: Verdict | None = None
    reason: str = ""


def decide(tests: Sequence[SubjectTest], *, q: float, min_power: float = 0.8) -> list[SubjectTest]:
    """One FDR step across the run's tests, then one verdict (with its reason) for each."""
    tested = [i for i, t in enumerate(tests) if t.p_value is not None]
    adjusted: Iterable[float] = bh_adjust([tests[i].p_value for i in tested]) if tested else []
    p_adj = {i: float(a) for i, a in zip(tested, adjusted, strict=True)}
    out = []
    for i, t in enumerate(tests):
        qv = p_adj.get(i)
        verdict: Verdict
        if t.n == 0:
            verdict, reason = "no-data", "nothing measured in this run"
        elif t.signal:
            verdict, reason = "regression", f"{t.test} signalled"
        elif qv is not None and qv < q:
            verdict, reason = "regression", f"BH-adjusted p = {qv:.2g} < q = {q:g}"
        elif t.inconclusive_reason:
            verdict, reason = "inconclusive", t.inconclusive_reason
        elif t.power is not None and t.power < min_power:
            verdict, reason = "inconclusive", f"power {t.power:.2f} < {min_power:.2f}"
        else:
            verdict = "pass"
            reason = "" if qv is None else f"BH-adjusted p = {qv:.2g}"
        out.append(replace(t, p_adjusted=qv, verdict=verdict, reason=reason))
    return out


def overall(decided: Sequence[SubjectTest]) -> tuple[Verdict, str]:
    """The run's verdict: any regression; else any inconclusive; else pass."""
    regressions = [t for t in decided if t.verdict == "regression"]
    if regressions:
        return "regression", ", ".join(f"{t.subject}/{t.metric}" for t in regressions)
    unsure = [t for t in decided if t.verdict == "inconclusive"]
    if unsure:
        return "inconclusive", "; ".join(f"{t.subject}: {t.reason}" for t in unsure[:5])
    if not decided or all(t.verdict == "no-data" for t in decided):
        return "inconclusive", "nothing was compared"
    return "pass", ""


def alert_for(t: SubjectTest, run: RunRecord) -> Alert | None:
    """The alert of a regression verdict (None for any other verdict)."""
    if t.verdict != "regression":
        return None
    return Alert(
        flow=run.flow,
        model=run.model,
        subject=t.subject,
        metric=t.metric,
        metric_class=t.metric_class,
        baseline_value=t.baseline_value,
        current_value=t.current_value,
        test=t.test + ("+BH" if t.p_adjusted is not None and not t.signal else ""),
        statistic=t.statistic,
        p_value=t.p_adjusted if t.p_adjusted is not None else t.p_value,
        limit=t.limit,
        baseline_n=t.baseline_n,
        first_window=t.first_window or run.as_of,
        run_id=run.run_id,
        as_of=run.as_of,
        message=t.message or f"{t.subject} {t.metric}: {t.reason}",
        evidence=dict(t.evidence),
    )


def report_row(t: SubjectTest) -> Any:
    """The report's row of a decided test (the verdict word is carried, not translated)."""
    from canaryflow.reports import SubjectResult

    low, high = t.ci if t.ci is not None else (None, None)
    return SubjectResult(
        subject=t.subject,
        metric=t.metric,
        unit=t.unit,
        baseline_value=t.baseline_value,
        current_value=t.current_value,
        ci_low=low,
        ci_high=high,
        test=t.test,
        p_value=t.p_adjusted if t.p_adjusted is not None else t.p_value,
        verdict=t.verdict or "inconclusive",
        n=t.n,
        baseline_n=t.baseline_n,
        detail=t.reason,
    )
