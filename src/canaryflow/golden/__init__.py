"""Golden sets: the format, the loader, the item runner and the paired comparison engine.

The calls, in the order a flow makes them::

    suite = load_golden_sets("golden_sets")          # GoldenSuite(sets, errors); never raises
    suite.raise_for_errors()                         # or report suite.errors and go on
    results = run_golden_set(gset, model_key, model_cfg, simulator, run_id=..., as_of=...)
    #   -> list[ItemResult], one per (item, repetition); checks, output, latency, tokens, cost,
    #      and in ``extra`` what a judge needs (set, category, input, expected, context, facts)
    outcomes = collapse(results, judge=judge_scores)  # one ItemOutcome per item (the unit)
    cmp = compare(baseline_outcomes, current_outcomes, sets={name: header, ...}, rng=rng)
    #   -> Comparison: per set and per category McNemar / Wilcoxon + bootstrap CI, BH across
    #      them, a verdict (pass / regression / inconclusive) with its reason, flipped items
    report = comparison_report(cmp, title=..., run=...)   # a canaryflow.reports.Report
    paths = write_comparison(cmp, "reports", ...)     # Markdown, JSON, JUnit, PNG, step summary
    md = render_comparison_markdown(cmp, budget=60_000, full_report_url=...)

Judge scores are plain inputs to :func:`collapse`: ``{(item_id, attempt): {dimension: score |
None}}`` where None is an unjudged or unparseable reply (counted as a judge error, never a score).
"""

from canaryflow.golden._compare import (
    COMPARISON_VERSION,
    CompareSettings,
    Comparison,
    Flip,
    GroupResult,
    SetSummary,
    compare,
)
from canaryflow.golden._format import (
    GoldenItem,
    GoldenModelOverride,
    GoldenPrompt,
    GoldenSetHeader,
    build_request,
    render_template,
)
from canaryflow.golden._load import (
    GOLDEN_ITEM_SCHEMA_PATH,
    GOLDEN_SET_SCHEMA_PATH,
    GoldenSet,
    GoldenSuite,
    golden_item_json_schema,
    golden_set_json_schema,
    load_golden_set,
    load_golden_sets,
    render_golden_schemas,
)
from canaryflow.golden._outcomes import ItemOutcome, JudgeScores, collapse
from canaryflow.golden._report import (
    COMPARISON_SCHEMA_PATH,
    STICKY_MARKER,
    ComparisonPaths,
    comparison_json_schema,
    comparison_report,
    plot_comparison,
    render_comparison_json,
    render_comparison_markdown,
    write_comparison,
    write_comparison_schema,
)
from canaryflow.golden._runner import (
    golden_item_id,
    run_golden_set,
    run_golden_set_async,
    to_golden_item,
)

__all__ = [
    "COMPARISON_SCHEMA_PATH",
    "COMPARISON_VERSION",
    "CompareSettings",
    "Comparison",
    "ComparisonPaths",
    "Flip",
    "GOLDEN_ITEM_SCHEMA_PATH",
    "GOLDEN_SET_SCHEMA_PATH",
    "GoldenItem",
    "GoldenModelOverride",
    "GoldenPrompt",
    "GoldenSet",
    "GoldenSetHeader",
    "GoldenSuite",
    "GroupResult",
    "ItemOutcome",
    "JudgeScores",
    "STICKY_MARKER",
    "SetSummary",
    "build_request",
    "collapse",
    "compare",
    "comparison_json_schema",
    "comparison_report",
    "golden_item_id",
    "golden_item_json_schema",
    "golden_set_json_schema",
    "load_golden_set",
    "load_golden_sets",
    "plot_comparison",
    "render_comparison_json",
    "render_comparison_markdown",
    "render_golden_schemas",
    "render_template",
    "run_golden_set",
    "run_golden_set_async",
    "to_golden_item",
    "write_comparison",
    "write_comparison_schema",
]
