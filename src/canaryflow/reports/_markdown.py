"""GitHub-flavoured Markdown and JSON rendering of a :class:`Report`, with a size budget.

Templates live in ``canaryflow/reports/templates/*.j2`` (package data). Jinja's autoescape is off
(it escapes for HTML, not Markdown); instead every value a template prints goes through one of
the filters below, and a ``finalize`` hook escapes any plain string a template prints without a
filter, so model text can never open HTML, close a ``<details>`` or split a table.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any, TypedDict
from urllib.parse import quote

from jinja2 import Environment, PackageLoader, StrictUndefined

from canaryflow.redact import escape_markdown, safe_block, safe_cell, safe_inline
from canaryflow.reports._model import Report

__all__ = [
    "DEFAULT_BUDGET",
    "md_environment",
    "render_json",
    "render_markdown",
    "render_template",
]

DEFAULT_BUDGET = 60_000
"""Characters; GitHub rejects PR comments and issue bodies above 65,536."""


class Md(str):
    """A string that is already safe Markdown (the output of a filter)."""

    __slots__ = ()


def _finalize(value: Any) -> Any:
    if isinstance(value, Md) or not isinstance(value, str):
        return value
    return safe_inline(value, 500)


def f_inline(value: Any, max_len: int = 200) -> Md:
    """Escaped one-line text."""
    return Md(safe_inline("" if value is None else str(value), max_len))


def f_cell(value: Any, max_len: int = 120) -> Md:
    """Escaped table cell (pipes escaped, None as an em dash)."""
    return Md(safe_cell(value, max_len))


def f_block(value: Any, max_len: int = 1500, info: str = "text") -> Md:
    """A fenced code block the content cannot close."""
    return Md(safe_block("" if value is None else str(value), max_len, info=info))


def f_text(value: Any, max_len: int = 2000) -> Md:
    """Escaped multi-line text (line breaks kept as Markdown hard breaks)."""
    text = str(value or "")
    if len(text) > max_len:
        text = f"{text[:max_len]}… [truncated: {len(text) - max_len} more chars]"
    lines = [escape_markdown(line.strip()) for line in text.splitlines() if line.strip()]
    return Md("  \n".join(lines))


def f_num(value: Any, digits: int = 4) -> Md:
    """A number for a table: 2 decimals for rates in [0, 1], else ``digits`` significant."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Md("—")
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f_cell(value)
    if isinstance(value, int):
        return Md(f"{value:,}")
    if 0.0 <= value <= 1.0:
        return Md(f"{value:.2f}")
    if abs(value) >= 1000:
        return Md(f"{value:,.0f}")
    return Md(f"{value:.{digits}g}")


def f_pvalue(value: Any) -> Md:
    """A p-value: four decimals, scientific below 1e-4, never printed as 0."""
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return Md("—")
    p = float(value)
    if p < 1e-4:
        return Md(f"{p:.1e}")
    return Md(f"{p:.4f}")


def f_ci(low: Any, high: Any) -> Md:
    """``[low, high]`` or an em dash."""
    if low is None or high is None:
        return Md("—")
    return Md(f"[{f_num(low)}, {f_num(high)}]")


def f_dt(value: Any) -> Md:
    """An aware datetime as ``YYYY-MM-DD HH:MM UTC`` (or an em dash)."""
    if value is None:
        return Md("—")
    if isinstance(value, datetime):
        if value.utcoffset() is None:
            return Md(value.strftime("%Y-%m-%d %H:%M"))
        return Md(value.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC"))
    return f_cell(value)


def f_status(value: Any) -> Md:
    """A verdict as an upper-case status word (no emoji)."""
    return Md(safe_inline(str(value).upper().replace("_", " "), 40))


def f_link(path: Any) -> Md:
    """A relative path or URL, percent-encoded so it cannot break out of ``(...)``."""
    text = str(path)
    if text.startswith(("http://", "https://")):
        return Md(quote(text, safe=":/?#=&%.-_~+"))
    return Md(quote(text.replace(os.sep, "/"), safe="/.-_~"))


def f_md(value: Any) -> Md:
    """Mark text produced by trusted code (another render) as Markdown."""
    return Md(str(value))


@lru_cache(maxsize=1)
def md_environment() -> Environment:
    """The shared Jinja environment (templates from the package, filters registered)."""
    env = Environment(
        loader=PackageLoader("canaryflow.reports", "templates"),
        autoescape=False,
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
        finalize=_finalize,
    )
    env.filters.update(
        inline=f_inline,
        cell=f_cell,
        block=f_block,
        text=f_text,
        num=f_num,
        pvalue=f_pvalue,
        dt=f_dt,
        status=f_status,
        link=f_link,
        md=f_md,
    )
    env.globals["ci"] = f_ci
    return env


def render_template(name: str, **context: Any) -> str:
    """Render one of the package templates with the safe filters."""
    return md_environment().get_template(name).render(**context)


def _chart_rows(report: Report, base_dir: Path | None) -> list[dict[str, Any]]:
    rows = []
    for chart in report.charts:
        path = chart.path
        if base_dir is not None and not path.startswith(("http://", "https://")):
            try:
                path = os.path.relpath(Path(path).resolve(), base_dir.resolve())
            except ValueError:  # another drive on Windows: keep it as given
                pass
        rows.append({"chart": chart, "path": path})
    return rows


class _RenderOptions(TypedDict):
    """The :func:`_render` arguments that stay the same while the budget loop shrinks the rest."""

    base_dir: Path | None
    embed_images: bool
    json_name: str | None


def _render(
    report: Report,
    *,
    max_examples: int,
    max_rows: int,
    max_alerts: int,
    base_dir: Path | None,
    embed_images: bool,
    json_name: str | None,
    minimal: bool = False,
) -> str:
    return render_template(
        "report.md.j2",
        r=report,
        examples=report.examples[:max_examples],
        examples_hidden=max(0, len(report.examples) - max_examples),
        results=report.results[:max_rows],
        results_hidden=max(0, len(report.results) - max_rows),
        alerts=report.alerts[:max_alerts],
        alerts_hidden=max(0, len(report.alerts) - max_alerts),
        charts=_chart_rows(report, base_dir),
        embed_images=embed_images,
        json_name=json_name,
        minimal=minimal,
    )


def _limits(n: int, floor: int) -> Sequence[int]:
    """Decreasing limits n, n/2, n/4, ... down to ``floor``."""
    out, k = [n], n
    while k > floor:
        k = max(floor, k // 2)
        out.append(k)
    return out


def render_markdown(
    report: Report,
    *,
    budget: int = DEFAULT_BUDGET,
    max_examples: int = 50,
    base_dir: str | Path | None = None,
    embed_images: bool = True,
    json_name: str | None = None,
) -> str:
    """Render ``report`` as GitHub-flavoured Markdown that fits in ``budget`` characters.

    The summary comes first, then collapsible ``<details>`` sections. When the text is too
    long, failing examples are dropped first, then table rows, then alerts, each time with an
    "N more in the JSON" note; as a last resort only the summary is kept.

    Args:
        report: The report.
        budget: Maximum length in characters (a PR comment holds 65,536).
        max_examples: Never show more failing examples than this.
        base_dir: Directory the Markdown file will live in; chart paths are made relative to it.
        embed_images: ``![..](path)`` images; False links the files as text (for Prefect
            artifacts, where a relative image cannot be served).
        json_name: File name of the JSON twin, mentioned in the footer and the notes.
    """
    base = Path(base_dir) if base_dir is not None else None
    opts: _RenderOptions = {"base_dir": base, "embed_images": embed_images, "json_name": json_name}
    n_ex = min(max_examples, len(report.examples))
    text = ""
    for ex_limit in _limits(n_ex, 0):
        text = _render(
            report,
            max_examples=ex_limit,
            max_rows=len(report.results),
            max_alerts=len(report.alerts),
            **opts,
        )
        if len(text) <= budget:
            return text
    for row_limit in _limits(len(report.results), 10):
        for alert_limit in _limits(len(report.alerts), 5):
            text = _render(
                report, max_examples=0, max_rows=row_limit, max_alerts=alert_limit, **opts
            )
            if len(text) <= budget:
                return text
    text = _render(report, max_examples=0, max_rows=0, max_alerts=0, minimal=True, **opts)
    if len(text) > budget:  # only a pathological summary gets here; cut on a line boundary
        note = "\n\n*Report truncated to fit; the full report is in the JSON.*\n"
        text = text[: max(0, budget - len(note))].rsplit("\n", 1)[0] + note
    return text


def render_json(report: Report) -> str:
    """The JSON twin (validates against ``report.schema.json``; NaN written as null)."""
    return report.model_dump_json(indent=2) + "\n"
