"""Defect 14: runbooks cite only real commands and show the evidence each incident class needs.

Every ``canaryflow ...`` command a rendered runbook or report template cites is looked up in
the typer app by walking its registered commands and groups; the learn step's
``golden add-from-incident`` appears only when the app has it.
"""

from __future__ import annotations

import inspect
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, get_args

import typer
import typer.main

import canaryflow.cli  # noqa: F401  (registers every command on the app)
from canaryflow.cli._app import app
from canaryflow.incidents._runbook import (
    RunbookContext,
    SubjectCount,
    build_runbook,
    group_examples,
    render_incident,
)
from canaryflow.records import (
    SEVERITY_BY_CLASS,
    Alert,
    CheckResult,
    Incident,
    IncidentEvent,
    ItemResult,
    MetricClass,
)
from canaryflow.reports import Example
from canaryflow.runs._canary_detect import _failing

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)
TEMPLATES = Path(inspect.getfile(render_incident)).parents[1] / "reports" / "templates"
CITED = re.compile(r"\bcanaryflow((?: +[a-z][a-z0-9-]*)+)((?: +(?:--[a-z0-9-]+|[^\s`'\"]+))*)")


def _typer_tree(t: typer.Typer) -> dict[str, Any]:
    """{command name: None (a command) or {sub-tree} (a group)} from typer's registrations."""
    tree: dict[str, Any] = {}
    for cmd in t.registered_commands:
        name = cmd.name or typer.main.get_command_name(cmd.callback.__name__)  # type: ignore[union-attr]
        tree[name] = None
    for group in t.registered_groups:
        name = group.name or group.typer_instance.info.name  # type: ignore[union-attr]
        tree[name] = _typer_tree(group.typer_instance)  # type: ignore[arg-type]
    return tree


def _check_cited(text: str, tree: dict[str, Any]) -> list[str]:
    """The citations in ``text`` that name no command (or an option it lacks)."""
    bad = []
    root = typer.main.get_command(app)
    text = re.sub(r"<sub>.*?</sub>", "", text, flags=re.S)  # the footer names the tool
    for m in CITED.finditer(text):
        words, rest = m.group(1).split(), m.group(2).split()
        node: Any = tree
        path: list[str] = []
        for w in words:
            if not isinstance(node, dict):
                break  # the command is complete; the rest are its arguments
            if w not in node:
                bad.append(f"canaryflow {' '.join(words)}: no {w!r} under {path or 'the app'}")
                node = "bad"
                break
            path.append(w)
            node = node[w]
        if node == "bad":
            continue
        if isinstance(node, dict):
            bad.append(f"canaryflow {' '.join(path)} is a group, not a command")
            continue
        cmd: Any = root
        for w in path:
            cmd = cmd.commands[w]
        opts = {o for p in cmd.params for o in getattr(p, "opts", ())}
        for token in [*words[len(path) :], *rest]:
            if token.startswith("--") and token not in opts:
                bad.append(f"canaryflow {' '.join(path)} has no option {token}")
    return bad


def _alert(metric_class: MetricClass, **kw: Any) -> Alert:
    data: dict[str, Any] = dict(
        flow="canary", model="support-bot", subject="dates_eu", metric="pass_rate",
        metric_class=metric_class, baseline_value=0.98, current_value=0.55, test="fisher",
        p_value=0.0004, baseline_n=480, run_id="r1", as_of=T0, first_window=T0,
        message="pass rate 0.98 -> 0.55",
    )  # fmt: skip
    data.update(kw)
    return Alert.model_validate(data)


def _incident(metric_class: MetricClass, state: str = "open", **alert_kw: Any) -> Incident:
    a = _alert(metric_class, **alert_kw)
    return Incident(
        incident_id=f"INC-20261124-{metric_class}", flow="canary", model="support-bot",
        subject=a.subject, metric_class=metric_class, severity=SEVERITY_BY_CLASS[metric_class],
        state=state,  # type: ignore[arg-type]
        resolution="fixed" if state == "resolved" else None, title="t", opened_at=T0,
        updated_at=T0, alerts=(a,), run_ids=("r1",),
        history=(IncidentEvent(at=T0, action="opened", note="n"),),
    )  # fmt: skip


def _rich_context() -> RunbookContext:
    return RunbookContext(
        examples=(Example(item_id="p1", subject="dates_eu", input="i", expected="e", output="o",
                          failed=2, attempts=3),),  # fmt: skip
        counts=(SubjectCount(subject="dates_eu", failed=6, total=20),),
        fingerprint_changed=3, fingerprint_probes=20, fingerprint_changed_at=T0,
        models_returned_before=("m-1",), models_returned_after=("m-2",), pinned_model="m",
        config_hashes=("abc",), chart_path="c.png", endpoint="http://127.0.0.1:9/v1",
        error_examples=("APIConnectionError: Connection refused",),
    )  # fmt: skip


def _all_rendered() -> Iterator[tuple[str, str]]:
    for metric_class in get_args(MetricClass):
        for state in ("open", "acknowledged", "resolved"):
            for ctx in (None, _rich_context()):
                inc = _incident(metric_class, state)
                rb = build_runbook(inc, inc.alerts, ctx)
                md, js = render_incident(inc, inc.alerts, rb, ["c.png"])
                lines = [line for step in rb.steps() for line in step.lines]
                yield f"{metric_class}/{state}", "\n".join([md, *lines, rb.learn_command or ""])


def test_every_cited_command_exists_in_the_app() -> None:
    tree = _typer_tree(app)
    assert {"incidents", "run", "baseline"} <= set(tree)  # the walk sees the real app
    bad: set[str] = set()
    cited = 0
    for _, text in _all_rendered():
        cited += len(CITED.findall(text))
        bad.update(_check_cited(text, tree))
    for template in TEMPLATES.glob("*.j2"):
        bad.update(_check_cited(re.sub(r"\{\{.*?\}\}", "X", template.read_text()), tree))
    assert cited > 0  # the runbooks do cite commands (ack, resolve)
    assert not bad, sorted(bad)


def test_the_checker_catches_a_missing_command() -> None:
    tree = _typer_tree(app)
    assert _check_cited("run: canaryflow incidents ack INC-1 --note x", tree) == []
    assert _check_cited("canaryflow incidents ack INC-1 --nope x", tree)
    assert _check_cited("canaryflow nosuch thing", tree)


def test_learn_step_without_the_golden_command_says_how_by_hand(no_golden_cli: None) -> None:
    inc = _incident("correctness")
    rb = build_runbook(inc, inc.alerts, _rich_context())
    assert rb.learn_command is None
    assert "by hand" in rb.learn[0] and "golden_sets/dates_eu-regressions.jsonl" in rb.learn[0]
    md, _ = render_incident(inc, inc.alerts, rb)
    assert "add-from-incident" not in md and "```sh" not in md


def test_learn_step_cites_the_golden_command_when_the_app_has_it(golden_cli: None) -> None:
    inc = _incident("correctness")
    rb = build_runbook(inc, inc.alerts, _rich_context())
    assert rb.learn_command == (
        "canaryflow golden add-from-incident INC-20261124-correctness --set dates_eu-regressions"
    )
    md, _ = render_incident(inc, inc.alerts, rb)
    assert f"```sh\n{rb.learn_command}\n```" in md
    assert not _check_cited(md, _typer_tree(app))


def test_provider_unreachable_names_endpoint_and_error() -> None:
    inc = _incident(
        "reliability",
        subject="all",
        metric="error_rate",
        evidence={
            "endpoint": "https://llm.internal.example/v1",
            "error_examples": [
                "APIConnectionError: Connection refused",
                "APITimeoutError: Request timed out",
            ],
        },
    )
    rb = build_runbook(inc, inc.alerts, None)  # what the CLI knows: the stored alert only
    triage, isolate = "\n".join(rb.triage), "\n".join(rb.isolate)
    assert "No failing item was recorded" not in triage
    assert "Provider endpoint: https://llm.internal.example/v1" in triage
    assert "Error returned: APIConnectionError: Connection refused" in triage
    assert "https://llm.internal.example/v1" in isolate and "Connection refused" in isolate
    md, _ = render_incident(inc, inc.alerts, rb)
    assert "https://llm.internal.example/v1" in md and "Request timed out" in md


def test_fingerprint_incident_shows_new_model_and_system_fingerprint() -> None:
    inc = _incident(
        "fingerprint",
        subject="all",
        metric="behaviour_fingerprint",
        evidence={
            "new_model_names": ["sim-sonnet-2024-04-01"],
            "new_system_fingerprints": ["fp_9b3c"],
            "changed_examples": [
                {"probe": "dates-eu-03", "before": "2024-04-03", "after": "2024-03-04"}
            ],  # fmt: skip
        },
    )
    rb = build_runbook(inc, inc.alerts, None)
    isolate = "\n".join(rb.isolate)
    assert "sim-sonnet-2024-04-01" in isolate and "fp_9b3c" in isolate
    assert "unchanged" not in isolate.split("Config hash")[0]
    assert rb.flagged and rb.flagged[0].item_id == "dates-eu-03"
    assert rb.flagged[0].before == "2024-04-03" and rb.flagged[0].output == "2024-03-04"
    md, _ = render_incident(inc, inc.alerts, rb)
    assert "fp\\_9b3c" in md and "sim-sonnet-2024-04-01" in md


def _item(attempt: int, passed: bool, probe: str = "dates-eu-03") -> ItemResult:
    return ItemResult(
        run_id="r1", item_id=probe, attempt=attempt, flow="canary", model="support-bot",
        subject="dates_eu", passed=passed, output="2024-03-04" if not passed else "2024-04-03",
        checks=(CheckResult(name="iso_date", passed=passed, reason="expected 2024-04-03"),),
        extra={"input": "Rechnung vom 03/04/2024", "expected": "iso_date: 2024-04-03"},
    )  # fmt: skip


def test_failing_examples_once_per_probe_with_k_of_n() -> None:
    items = [_item(0, False), _item(1, True), _item(2, False), _item(0, False, "dates-eu-07")]
    rows = _failing(items)
    assert rows[0]["input"] == "Rechnung vom 03/04/2024"
    assert rows[0]["expected"] == "iso_date: 2024-04-03" and rows[0]["repetitions"] == 3
    examples = group_examples(rows)
    assert [(e.item_id, e.failed, e.attempts) for e in examples] == [
        ("dates-eu-03", 2, 3),
        ("dates-eu-07", 1, 1),
    ]
    inc = _incident("correctness", evidence={"failing_examples": rows})
    rb = build_runbook(inc, inc.alerts, None)
    md, js = render_incident(inc, inc.alerts, rb)
    assert md.count("Rechnung vom 03/04/2024") == 2  # once per probe, two probes
    assert "dates-eu-03** (dates\\_eu, 2 of 3 repetitions failed)" in md
    assert "iso\\_date: 2024-04-03" in md or "iso_date: 2024-04-03" in md
    flagged = json.loads(js)["runbook"]["flagged"]
    assert [(f["item_id"], f["failed"], f["attempts"]) for f in flagged] == [
        ("dates-eu-03", 2, 3),
        ("dates-eu-07", 1, 1),
    ]
