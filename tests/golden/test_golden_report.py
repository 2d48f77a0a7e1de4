"""PR artifacts of a comparison, rendered with GitHub's own cmark-gfm (cmarkgfm)."""

from __future__ import annotations

import json
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import cmarkgfm
import jsonschema
import numpy as np
import pytest
from cmarkgfm.cmark import Options

from canaryflow.golden import (
    COMPARISON_SCHEMA_PATH,
    STICKY_MARKER,
    Comparison,
    ItemOutcome,
    compare,
    comparison_json_schema,
    render_comparison_json,
    render_comparison_markdown,
    write_comparison,
)
from canaryflow.golden._compare import CompareSettings

GITHUB_LIMIT = 65_536
HOSTILE = (
    "</details><script>alert('x')</script> | pipe | <img src=x onerror=alert(1)> "
    "@octocat ```` ``` [link](javascript:alert(1)) <!-- "
    "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123 "
    "mail me: jane.doe@example.com"
)


def gfm(markdown: str) -> str:
    """HTML as GitHub renders it (raw HTML allowed through, as GitHub's sanitizer would)."""
    return cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)


def _outcomes(n: int, failing: set[int], text: str, sets: str = "ab") -> dict[str, ItemOutcome]:
    out = {}
    for s in sets:
        for i in range(n):
            bad = i in failing
            out[f"{s}/i{i:05d}"] = ItemOutcome(
                item_id=f"{s}/i{i:05d}",
                set=s,
                category=f"cat{i % 3}",
                attempts=1,
                passes=0 if bad else 1,
                errors=0,
                passed=not bad,
                output=text if bad else "fine",
                input=f"input {i}: {text}",
                expected=text,
                failing=f"fact: {text}" if bad else "",
            )
    return out


def make_comparison(
    n: int = 60, flipped: int = 12, text: str = HOSTILE, sets: str = "ab"
) -> Comparison:
    base = _outcomes(n, set(), "fine", sets)
    cur = _outcomes(n, set(range(flipped)), text, sets)
    return compare(
        base,
        cur,
        rng=np.random.default_rng(0),
        settings=CompareSettings(resamples=200),
        baseline_label="support-bot",
        candidate_label="support-bot-next",
    )


def test_markdown_renders_as_github_tables_and_details_verdict_first() -> None:
    cmp = make_comparison()
    md = render_comparison_markdown(cmp)
    assert md.startswith(STICKY_MARKER + "\n## Golden sets: support-bot-next vs support-bot")
    assert md.splitlines()[3].startswith("**Verdict: REGRESSION**")
    html = gfm(md)
    assert html.count("<table>") == 2  # one table per set
    assert "<th>p (BH)</th>" in html
    assert html.count("<details>") == 2 and html.count("</details>") == 2
    assert "<summary>Flipped items in a (12: 12 regressed, 0 fixed)</summary>" in html


def test_hostile_item_text_is_escaped_and_redacted() -> None:
    md = render_comparison_markdown(make_comparison())
    html = gfm(md)
    assert "<script" not in html and "<img" not in html
    assert 'href="javascript' not in html
    assert html.count("</details>") == 2  # model text never closed a <details>
    assert "sk-ant-api03-abcdefghijklmnopqrstuvwxyz0123" not in md
    assert "jane.doe@example.com" not in md
    outside_code = re.sub(r"^(`{3,}).*?^\1$", "", md, flags=re.S | re.M)
    assert "@octocat" not in outside_code and "&#64;octocat" in outside_code
    for table in html.split("<table>")[1:]:
        rows = table.split("</table>")[0].split("<tr>")[1:]
        assert len({row.count("<td") + row.count("<th") for row in rows}) == 1  # no split cells


def test_two_thousand_flipped_items_fit_under_githubs_limit() -> None:
    cmp = make_comparison(n=2100, flipped=2000, sets="a")
    assert len(cmp.regressions) == 2000
    md = render_comparison_markdown(cmp, full_link="https://ci.example/artifacts/full.md")
    assert len(md) <= 60_000 < GITHUB_LIMIT
    assert "shortened to fit" in md
    html = gfm(md)
    assert 'href="https://ci.example/artifacts/full.md"' in html
    assert html.count("<details>") == html.count("</details>")
    assert "<table>" in html and "Verdict: REGRESSION" in md
    assert "more flipped items in the full report" in md
    full = render_comparison_markdown(cmp, budget=10**9)
    assert len(full) > GITHUB_LIMIT and "shortened" not in full


def test_tiny_budget_keeps_the_verdict() -> None:
    md = render_comparison_markdown(make_comparison(), budget=1500)
    assert len(md) <= 1500 and "Verdict: REGRESSION" in md


def test_json_validates_against_the_committed_schema() -> None:
    assert json.loads(COMPARISON_SCHEMA_PATH.read_text()) == comparison_json_schema()
    cmp = make_comparison()
    text = render_comparison_json(cmp)
    jsonschema.validate(json.loads(text), comparison_json_schema())
    assert "jane.doe@example.com" not in text
    again = Comparison.model_validate_json(text)
    assert again.verdict == cmp.verdict and len(again.flips) == len(cmp.flips)


def test_write_comparison_files_junit_png_and_step_summary(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    summary = tmp_path / "summary.md"
    monkeypatch.setenv("GITHUB_STEP_SUMMARY", str(summary))
    cmp = make_comparison()
    paths = write_comparison(cmp, tmp_path / "reports")
    assert paths.markdown.read_text().startswith(STICKY_MARKER)
    assert paths.full_markdown.exists() and paths.json.exists()
    assert paths.chart is not None and paths.chart.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert paths.junit is not None
    root = ET.fromstring(paths.junit.read_text(encoding="utf-8"))
    suite = root if root.tag == "testsuite" else root.find("testsuite")
    assert suite is not None and int(suite.get("failures", "0")) >= 2
    assert summary.read_text().startswith(STICKY_MARKER)
    again = write_comparison(cmp, tmp_path / "reports")
    assert again.markdown == paths.markdown  # same stem: files replaced, not duplicated
    assert len(list((tmp_path / "reports" / "compare").glob("*.md"))) == 2


def test_example_workflow_posts_the_sticky_comment_written_by_write_comparison() -> None:
    import yaml

    root = Path(__file__).resolve().parents[2]
    flow = yaml.safe_load((root / "examples/github-actions/golden-compare.yml").read_text())
    steps = flow["jobs"]["compare"]["steps"]
    sticky = next(s for s in steps if "sticky-pull-request-comment" in s.get("uses", ""))
    assert sticky["with"]["path"] == (
        "reports/compare/${{ env.CANDIDATE }}-vs-${{ env.BASELINE }}.md"
    )
    compare_step = next(s for s in steps if s.get("id") == "compare")
    assert "canaryflow compare --baseline" in compare_step["run"]
    assert flow[True]["pull_request"]["paths"]  # "on:" parses as True in YAML 1.1


def test_comparison_report_feeds_the_shared_report_renderers() -> None:
    from canaryflow.golden import comparison_report
    from canaryflow.reports import render_json, render_junit, render_markdown, report_json_schema

    report = comparison_report(make_comparison(), title="upgrade check")
    assert report.verdict == "regression" and report.kind == "upgrade"
    assert any(r.subject == "a" and r.verdict == "regression" for r in report.results)
    assert any(r.subject == "a/cat0" for r in report.results)
    assert report.examples and report.examples[0].before == "fine"
    assert "jane.doe@example.com" not in report.examples[0].output  # Example redacts
    md = render_markdown(report)
    assert "Status: REGRESSION" in md and "<script" not in gfm(md)
    jsonschema.validate(json.loads(render_json(report)), report_json_schema())
    assert "<failure" in render_junit(report)
