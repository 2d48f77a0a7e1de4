"""Publish a report as Prefect artifacts (visible on the flow run in the Prefect UI).

Only inside a flow or task run: outside one Prefect still creates artifacts but warns that this
is deprecated (``FutureWarning``), and they would belong to no run, so nothing is published.
Prefect rules (reference §2(e)): keys are lowercase letters, digits and dashes; an image artifact
takes a URL only (a local chart is linked as a path in the Markdown instead); tables store NaN
as null.
"""

from __future__ import annotations

import re
from typing import Any

from canaryflow.reports._markdown import render_markdown
from canaryflow.reports._model import Report
from canaryflow.reports._write import ReportPaths

__all__ = ["artifact_key", "in_prefect_run", "publish_artifacts"]

_MAX_KEY = 60


def artifact_key(*parts: str) -> str:
    """A Prefect artifact key: lowercase letters, digits and single dashes, at most 60 chars."""
    raw = "-".join(p for p in parts if p).lower()
    key = re.sub(r"-{2,}", "-", re.sub(r"[^a-z0-9-]", "-", raw)).strip("-")
    return key[:_MAX_KEY].rstrip("-") or "canaryflow"


def in_prefect_run() -> bool:
    """True inside a Prefect flow run or task run."""
    try:
        from prefect.context import FlowRunContext, TaskRunContext
    except ImportError:  # pragma: no cover - prefect is a dependency
        return False
    return FlowRunContext.get() is not None or TaskRunContext.get() is not None


def _table(report: Report) -> list[dict[str, Any]]:
    return [
        {
            "subject": s.subject,
            "metric": s.metric,
            "unit": s.unit,
            "baseline": s.baseline_value,
            "current": s.current_value,
            "ci_low": s.ci_low,
            "ci_high": s.ci_high,
            "n": s.n,
            "baseline_n": s.baseline_n,
            "test": s.test,
            "p_value": s.p_value,
            "verdict": s.verdict,
        }
        for s in report.results
    ]


def publish_artifacts(report: Report, paths: ReportPaths | None = None) -> list[str]:
    """Publish ``report`` as Prefect artifacts when called inside a flow or task run.

    Creates a markdown artifact (charts linked by file path), a table artifact of the
    per-subject results (if any) and one image artifact per chart that has a URL.

    Args:
        report: The report.
        paths: Where :func:`write_report` wrote it (named in the markdown artifact).

    Returns:
        The keys of the artifacts created; empty outside a run.
    """
    if not in_prefect_run():
        return []
    from prefect.artifacts import (
        create_image_artifact,
        create_markdown_artifact,
        create_table_artifact,
    )

    base = report.slug()
    markdown = render_markdown(report, embed_images=False, json_name=None)
    if paths is not None:
        markdown += f"\nFiles: {paths.markdown.as_posix()} and {paths.json.as_posix()}\n"
    keys: list[str] = []
    key = artifact_key(base, "report")
    # _sync=True: the same call works from sync and async flows (prefect's async_dispatch).
    # async_dispatch's wrapper accepts _sync at runtime but its ParamSpec typing omits it,
    # hence the call-arg ignores below.
    create_markdown_artifact(  # type: ignore[call-arg]
        markdown=markdown, key=key, description=report.title[:200], _sync=True
    )
    keys.append(key)
    if report.results:
        key = artifact_key(base, "results")
        create_table_artifact(  # type: ignore[call-arg]
            _table(report),
            key=key,
            description=f"Per-subject results: {report.title[:150]}",
            _sync=True,
        )
        keys.append(key)
    for i, chart in enumerate(report.charts):
        if not chart.url:
            continue
        key = artifact_key(base, "chart", str(i + 1))
        create_image_artifact(  # type: ignore[call-arg]
            chart.url, key=key, description=f"{chart.title} ({chart.unit})", _sync=True
        )
        keys.append(key)
    return keys
