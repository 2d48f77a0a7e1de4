"""PR artifacts of a comparison: Markdown comment, JSON (+ schema), JUnit, step summary, PNG.

The Markdown reuses the report machinery (``canaryflow.reports``: the package's jinja
environment with its escaping filters, ``redact``), with its own template ``compare.md.j2``:
verdict first, one table per set, flipped items in ``<details>``. It is rendered under a size
budget (GitHub rejects comments above 65,536 characters): flipped items are dropped first (per
set, keeping regressions), then table rows, then whole sets, each time saying so and linking to
the full report, which is written next to it without a budget. JUnit and Prefect artifacts go
through a :class:`~canaryflow.reports.Report` built by :func:`comparison_report`.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, NamedTuple, TypedDict

from canaryflow.golden._compare import Comparison, Flip, GroupResult
from canaryflow.records import utcnow
from canaryflow.redact import redact
from canaryflow.reports import (
    DEFAULT_BUDGET,
    Example,
    Report,
    SubjectResult,
    render_junit,
    safe_filename,
)
from canaryflow.reports._markdown import render_template
from canaryflow.reports._model import redact_value

__all__ = [
    "COMPARISON_SCHEMA_PATH",
    "ComparisonPaths",
    "STICKY_MARKER",
    "comparison_json_schema",
    "comparison_report",
    "plot_comparison",
    "render_comparison_json",
    "render_comparison_markdown",
    "write_comparison",
    "write_comparison_schema",
]

COMPARISON_SCHEMA_PATH = (
    Path(__file__).resolve().parent.parent / "schemas" / "comparison.schema.json"
)
"""The committed JSON Schema of a comparison's JSON."""

STICKY_MARKER = "<!-- canaryflow-compare -->"
"""First line of the PR comment, so a workflow finds and updates its own comment."""

_SUBJECT_VERDICT = {"regression": "regression", "pass": "ok", "inconclusive": "inconclusive"}


def comparison_json_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`Comparison` (the committed ``comparison.schema.json``)."""
    schema = Comparison.model_json_schema()
    return {"$schema": "https://json-schema.org/draft/2020-12/schema", **schema}


def render_comparison_json(cmp: Comparison) -> str:
    """The JSON twin (model text redacted; validates against ``comparison.schema.json``)."""
    flips = tuple(_redacted(f) for f in cmp.flips)
    return cmp.model_copy(update={"flips": flips}).model_dump_json(indent=2) + "\n"


def _redacted(f: Flip) -> Flip:
    return f.model_copy(
        update={
            "input": redact(f.input),
            "before": redact(f.before),
            "after": redact(f.after),
            "reason": redact(f.reason),
            "expected": redact_value(f.expected),
        }
    )


def _rows(groups: Sequence[GroupResult]) -> list[GroupResult]:
    """Set-level rows first, then categories, pass rate before scores."""
    return sorted(
        groups,
        key=lambda g: (g.category is not None, g.metric != "pass_rate", g.category or "", g.metric),
    )


def _redacted_once(f: Flip, memo: dict[int, Flip]) -> Flip:
    """Redaction is the costly step of a render (regexes over every field): do it once per
    flip, and only for the flips a render shows."""
    key = id(f)
    if key not in memo:
        memo[key] = _redacted(f)
    return memo[key]


class _Links(TypedDict):
    title: str
    chart: str | None
    full_link: str | None
    json_name: str | None


def _context(
    cmp: Comparison,
    flips_by_set: dict[str, list[Flip]],
    memo: dict[int, Flip],
    *,
    max_flips: int,
    max_rows: int,
    max_sets: int,
    truncated: bool,
    title: str,
    chart: str | None,
    full_link: str | None,
    json_name: str | None,
    marker: str | None,
) -> dict[str, Any]:
    sets = []
    for summary in cmp.sets[:max_sets]:
        rows = _rows([g for g in cmp.groups if g.set == summary.name])
        flips = flips_by_set.get(summary.name, [])
        sets.append(
            {
                "summary": summary,
                "rows": rows[:max_rows],
                "rows_hidden": max(0, len(rows) - max_rows),
                "flips": [_redacted_once(f, memo) for f in flips[:max_flips]],
                "flips_hidden": max(0, len(flips) - max_flips) if max_flips else 0,
                "n_flips": len(flips),
                "n_regressions": sum(f.direction == "regression" for f in flips),
            }
        )
    confidence = next((g.confidence for g in cmp.groups if g.confidence is not None), None)
    return {
        "c": cmp,
        "title": title,
        "sets": sets,
        "sets_hidden": max(0, len(cmp.sets) - max_sets),
        "n_regressions": len(cmp.regressions),
        "n_fixes": len(cmp.flips) - len(cmp.regressions),
        "confidence": f"{confidence:.0%}" if confidence is not None else "—",
        "truncated": truncated,
        "chart": chart,
        "full_link": full_link,
        "json_name": json_name,
        "marker": marker,
    }


def _limits(n: int) -> list[int]:
    out, k = [n], n
    while k > 0:
        k //= 2
        out.append(k)
    return out


def render_comparison_markdown(
    cmp: Comparison,
    *,
    title: str | None = None,
    budget: int = DEFAULT_BUDGET,
    full_link: str | None = None,
    json_name: str | None = None,
    chart: str | None = None,
    marker: str | None = STICKY_MARKER,
) -> str:
    """GitHub-flavoured Markdown of ``cmp`` in at most ``budget`` characters.

    Args:
        cmp: The comparison.
        title: Heading (default ``Golden sets: <candidate> vs <baseline>``).
        budget: Maximum length; a PR comment holds 65,536 characters.
        full_link: Where the full report lives (relative path or URL), linked when shortened.
        json_name: The JSON twin's file name, mentioned in the footer.
        chart: Path or URL of the PNG chart to embed.
        marker: An HTML comment on the first line (finds the sticky comment); None for none.
    """
    title = title or f"Golden sets: {cmp.candidate} vs {cmp.baseline}"
    common = _Links(title=title, chart=chart, full_link=full_link, json_name=json_name)
    by_set: dict[str, list[Flip]] = {}
    memo: dict[int, Flip] = {}
    for f in cmp.flips:
        by_set.setdefault(f.set, []).append(f)
    most_flips = max((len(v) for v in by_set.values()), default=0)
    most_rows = max((sum(g.set == s.name for g in cmp.groups) for s in cmp.sets), default=0)

    def render(max_flips: int, max_rows: int, max_sets: int) -> str:
        truncated = max_flips < most_flips or max_rows < most_rows or max_sets < len(cmp.sets)
        ctx = _context(
            cmp, by_set, memo, max_flips=max_flips, max_rows=max_rows, max_sets=max_sets,
            truncated=truncated, marker=marker, **common,
        )  # fmt: skip
        return render_template("compare.md.j2", **ctx)

    n_sets = len(cmp.sets)
    bare = render(0, most_rows, n_sets)
    if most_flips and len(bare) <= budget:
        # Flipped items dominate the size and cost about the same each: measure a few, render
        # all if they fit, else as many as the estimate allows, stepping down until it fits.
        few = min(most_flips, 10)
        shown = sum(min(few, len(v)) for v in by_set.values())
        per_flip = max(1.0, (len(render(few, most_rows, n_sets)) - len(bare)) / shown)
        if len(bare) + per_flip * len(cmp.flips) <= budget * 1.1:
            text = render(most_flips, most_rows, n_sets)
            if len(text) <= budget:
                return text
        k = min(most_flips - 1, int((budget - len(bare)) / per_flip / len(by_set)))
        while k > 0:
            text = render(k, most_rows, n_sets)
            if len(text) <= budget:
                return text
            k = int(k * 0.9)
        return bare
    if len(bare) <= budget:
        return bare
    for max_rows in _limits(most_rows):
        text = render(0, max_rows, n_sets)
        if len(text) <= budget:
            return text
    for max_sets in _limits(n_sets):
        text = render(0, 0, max_sets)
        if len(text) <= budget:
            return text
    note = "\n\n*Report truncated to fit; see the full report.*\n"
    return text[: max(0, budget - len(note))].rsplit("\n", 1)[0] + note


def comparison_report(
    cmp: Comparison, *, title: str | None = None, run: dict[str, Any] | None = None
) -> Report:
    """The comparison as a :class:`Report` (for JUnit, Prefect artifacts and the run history)."""
    results = []
    for g in _rows(cmp.groups):
        results.append(
            SubjectResult(
                subject=g.set if g.category is None else f"{g.set}/{g.category}",
                metric=g.metric,
                baseline_value=g.baseline_mean,
                current_value=g.candidate_mean,
                ci_low=g.ci_low,
                ci_high=g.ci_high,
                test=g.test + ("+BH" if g.test else ""),
                p_value=g.p_adjusted,
                verdict=_SUBJECT_VERDICT[g.verdict],  # type: ignore[arg-type]
                n=g.n,
                baseline_n=g.n,
                detail=g.reason,
            )
        )
    examples = [
        Example(
            item_id=f.item_id,
            subject=f"{f.set}/{f.category}",
            input=f.input,
            expected="" if f.expected is None else str(f.expected),
            output=f.after,
            before=f.before,
            reason=f"{f.direction}: {f.reason}".strip(": "),
        )
        for f in cmp.flips
    ]
    as_of = cmp.meta.get("as_of")
    return Report(
        kind="upgrade" if cmp.meta.get("kind", "upgrade") == "upgrade" else "golden",
        title=title or f"Golden sets: {cmp.candidate} vs {cmp.baseline}",
        run=run
        or {
            "baseline": cmp.baseline,
            "candidate": cmp.candidate,
            "model": cmp.candidate,
            "as_of": as_of if isinstance(as_of, str | datetime) else utcnow().isoformat(),
        },
        verdict=cmp.verdict,
        summary=cmp.reasons,
        results=tuple(results),
        examples=tuple(examples),
    )


def plot_comparison(cmp: Comparison, out_path: str | Path) -> Path:
    """Pass rate per set (fraction of paired items), baseline vs candidate, as a PNG."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    names = [s.name for s in cmp.sets]
    base = [s.baseline_pass_rate or 0.0 for s in cmp.sets]
    cand = [s.candidate_pass_rate or 0.0 for s in cmp.sets]
    fig = Figure(figsize=(max(4.0, 1.6 * len(names) + 2), 3.2), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    xs = range(len(names))
    ax.bar([x - 0.2 for x in xs], base, width=0.4, label=cmp.baseline[:40], color="#8fa8c8")
    ax.bar([x + 0.2 for x in xs], cand, width=0.4, label=cmp.candidate[:40], color="#1f4e79")
    ax.set_xticks(list(xs), [n[:24] for n in names], fontsize=8)
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("pass rate (fraction of items)")
    ax.set_title(f"Golden sets: {cmp.verdict} (pass rate, fraction of items)", fontsize=10)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, axis="y", alpha=0.3)
    fig.tight_layout()
    out = Path(out_path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, format="png")
    return out


class ComparisonPaths(NamedTuple):
    """Where :func:`write_comparison` put the files."""

    markdown: Path
    """The PR comment (under the budget)."""
    full_markdown: Path
    """Everything, no budget (linked from the comment when it had to be shortened)."""
    json: Path
    junit: Path | None
    chart: Path | None
    step_summary: Path | None


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_comparison(
    cmp: Comparison,
    out_dir: str | Path,
    *,
    stem: str | None = None,
    title: str | None = None,
    junit: bool = True,
    chart: bool = True,
    budget: int = DEFAULT_BUDGET,
    full_report_url: str | None = None,
) -> ComparisonPaths:
    """Write the comment, the full report, JSON, JUnit and the chart under ``out_dir/compare/``.

    Rewriting the same ``stem`` replaces the files (idempotent). When ``$GITHUB_STEP_SUMMARY``
    is set, the comment Markdown is appended to it.

    Args:
        cmp: The comparison.
        out_dir: The reports directory.
        stem: File name stem (default ``<candidate>-vs-<baseline>``).
        title: Heading of the Markdown.
        junit: Also write JUnit XML.
        chart: Also draw the PNG chart.
        budget: Size budget of the comment.
        full_report_url: Link for the full report in the comment (e.g. the CI artifact URL);
            default the full Markdown's file name (relative to the comment).
    """
    folder = Path(out_dir) / "compare"
    folder.mkdir(parents=True, exist_ok=True)
    stem = safe_filename(stem or f"{cmp.candidate}-vs-{cmp.baseline}")
    md_path, full_path = folder / f"{stem}.md", folder / f"{stem}.full.md"
    json_path = folder / f"{stem}.json"
    chart_path = plot_comparison(cmp, folder / f"{stem}.png") if chart else None
    chart_rel = chart_path.name if chart_path else None
    opts = {"title": title, "json_name": json_path.name, "chart": chart_rel}
    full = render_comparison_markdown(cmp, budget=10**9, **opts)
    comment = render_comparison_markdown(
        cmp, budget=budget, full_link=full_report_url or full_path.name, **opts
    )
    _atomic_write(full_path, full)
    _atomic_write(md_path, comment)
    _atomic_write(json_path, render_comparison_json(cmp))
    junit_path = None
    if junit:
        junit_path = folder / f"{stem}.xml"
        _atomic_write(junit_path, render_junit(comparison_report(cmp, title=title)))
    summary_path = None
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        summary_path = Path(step_summary)
        with summary_path.open("a", encoding="utf-8") as fh:
            fh.write(comment if comment.endswith("\n") else comment + "\n")
            fh.write("\n")
    return ComparisonPaths(md_path, full_path, json_path, junit_path, chart_path, summary_path)


def write_comparison_schema(path: str | Path = COMPARISON_SCHEMA_PATH) -> Path:
    """Write :func:`comparison_json_schema` to ``path`` (the committed schema by default)."""
    out = Path(path)
    out.write_text(json.dumps(comparison_json_schema(), indent=2) + "\n", encoding="utf-8")
    return out
