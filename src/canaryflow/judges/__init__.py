"""The LLM judge: rubric-based, structured, strict, injection-safe, cached, budgeted.

The golden and production flows (and ``canaryflow compare``) use it through these calls::

    from canaryflow.judges import Judge, JudgeItem, Budget, route_for_review

    judge = Judge.from_config(cfg, store, rubric="quality")        # [judge] model, samples, mode
    estimate = judge.estimate_cost(items)                           # before any backfill judges
    print(estimate.line())
    results = await judge.score_many(items, run_id=run_id,          # or judge.score_many_sync(...)
                                     budget=Judge.budget_from_config(cfg))
    summary = judge.summarise(results)                              # aggregate(results, ...)
    if summary.degraded: ...                                        # error rate > max_error_rate
    route_for_review(items, results, judge.rubric, cfg.judge.review, store=store)
    prefs = await judge.pairwise([PairItem(id, input, a, b, reference=ref)])   # upgrade gate

Every ``JudgeResult`` has ``status`` ``ok`` (validated ``scores`` per dimension, the median of
``samples``), ``error`` (``reason`` and ``error_kind``: the judge failed or replied something
invalid) or ``unjudged`` (the run's budget ran out). Only ``ok`` results carry scores, and only
they enter ``aggregate``; errors count in ``error_rate``. Judge cost (``cost_usd``,
``JudgeSummary.judge_cost_usd``) comes from the judge model's pricing and is separate from the
application's cost. ``agreement(store.list_judge_labels(rubric))`` measures the judge against
human labels given with ``canaryflow review label``.
"""

from canaryflow.judges._agreement import DimensionAgreement, agreement
from canaryflow.judges._budget import Budget, CostEstimate
from canaryflow.judges._judge import Judge
from canaryflow.judges._pairwise import PairItem
from canaryflow.judges._parse import Verdict, VerdictError, parse_preference, parse_verdict
from canaryflow.judges._prompt import (
    PROMPT_VERSION,
    block,
    build_pairwise_request,
    build_request,
    neutralise,
    parse_blocks,
)
from canaryflow.judges._result import (
    DimensionSummary,
    JudgeItem,
    JudgeResult,
    JudgeStatus,
    JudgeSummary,
    PairwiseResult,
    aggregate,
)
from canaryflow.judges._review import review_reasons, route_for_review, spot_checked
from canaryflow.judges._rubric import (
    RUBRIC_DIR,
    RUBRIC_SCHEMA_PATH,
    Dimension,
    Rubric,
    Scale,
    load_rubric,
    load_rubrics,
    render_rubric_schema,
    rubric_json_schema,
    shipped_rubric,
)

__all__ = [
    "Budget",
    "CostEstimate",
    "Dimension",
    "DimensionAgreement",
    "DimensionSummary",
    "Judge",
    "JudgeItem",
    "JudgeResult",
    "JudgeStatus",
    "JudgeSummary",
    "PROMPT_VERSION",
    "PairItem",
    "PairwiseResult",
    "RUBRIC_DIR",
    "RUBRIC_SCHEMA_PATH",
    "Rubric",
    "Scale",
    "Verdict",
    "VerdictError",
    "aggregate",
    "agreement",
    "block",
    "build_pairwise_request",
    "build_request",
    "load_rubric",
    "load_rubrics",
    "neutralise",
    "parse_blocks",
    "parse_preference",
    "parse_verdict",
    "render_rubric_schema",
    "review_reasons",
    "route_for_review",
    "rubric_json_schema",
    "shipped_rubric",
    "spot_checked",
]
