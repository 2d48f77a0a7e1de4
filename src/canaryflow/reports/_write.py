"""Write a report to disk (Markdown, JSON, optional JUnit) and to ``$GITHUB_STEP_SUMMARY``."""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import NamedTuple

from canaryflow.reports._junit import render_junit
from canaryflow.reports._markdown import DEFAULT_BUDGET, render_json, render_markdown
from canaryflow.reports._model import Report

__all__ = ["ReportPaths", "safe_filename", "write_report"]


class ReportPaths(NamedTuple):
    """Where :func:`write_report` put the files."""

    markdown: Path
    json: Path
    latest: Path
    """``latest-<model>.md``, overwritten by every run of the same kind and model."""
    junit: Path | None = None
    step_summary: Path | None = None
    """The ``$GITHUB_STEP_SUMMARY`` file appended to, if the variable was set."""


def safe_filename(text: str, fallback: str = "unknown") -> str:
    """``text`` reduced to ``[A-Za-z0-9._-]`` (no path separators, no leading dots)."""
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "-", text).strip(".-")
    return cleaned[:100] or fallback


def _relative_charts(report: Report, folder: Path) -> Report:
    """Chart paths relative to the report's folder (the Markdown and JSON live there)."""
    charts = []
    for chart in report.charts:
        path = chart.path
        if not path.startswith(("http://", "https://")):
            try:
                path = os.path.relpath(Path(path).resolve(), folder.resolve())
            except ValueError:  # pragma: no cover - another drive on Windows
                pass
        charts.append(chart.model_copy(update={"path": Path(path).as_posix()}))
    return report.model_copy(update={"charts": tuple(charts)})


def _atomic_write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_report(
    report: Report, out_dir: str | Path, *, junit: bool = False, budget: int = DEFAULT_BUDGET
) -> ReportPaths:
    """Write ``<out_dir>/<kind>/<timestamp>-<model>.md`` and ``.json`` (and ``.xml``).

    The timestamp is the run's ``as_of`` in UTC (``20240403T100000Z``), so rewriting the report
    of the same run replaces its files (idempotent). ``latest-<model>.md`` and ``.json`` are
    refreshed. Chart paths (absolute or relative to the working directory) are rewritten
    relative to the report's folder in both files. When ``$GITHUB_STEP_SUMMARY`` is set, the
    Markdown is appended to it.

    Args:
        report: The report.
        out_dir: The reports directory (``[reports].dir``, default ``reports``).
        junit: Also write JUnit XML (``.xml``).
        budget: Markdown size budget in characters.
    """
    folder = Path(out_dir) / safe_filename(report.kind)
    folder.mkdir(parents=True, exist_ok=True)
    model = safe_filename(report.model)
    stamp = report.as_of.strftime("%Y%m%dT%H%M%SZ")
    stem = f"{stamp}-{model}"
    md_path, json_path = folder / f"{stem}.md", folder / f"{stem}.json"
    report = _relative_charts(report, folder)
    markdown = render_markdown(report, budget=budget, json_name=json_path.name)
    json_text = render_json(report)
    _atomic_write(md_path, markdown)
    _atomic_write(json_path, json_text)
    latest = folder / f"latest-{model}.md"
    _atomic_write(latest, markdown)
    _atomic_write(folder / f"latest-{model}.json", json_text)
    junit_path = None
    if junit:
        junit_path = folder / f"{stem}.xml"
        _atomic_write(junit_path, render_junit(report))
    summary_path = None
    step_summary = os.environ.get("GITHUB_STEP_SUMMARY")
    if step_summary:
        summary_path = Path(step_summary)
        with summary_path.open("a", encoding="utf-8") as fh:
            fh.write(markdown if markdown.endswith("\n") else markdown + "\n")
            fh.write("\n")
    return ReportPaths(md_path, json_path, latest, junit_path, summary_path)
