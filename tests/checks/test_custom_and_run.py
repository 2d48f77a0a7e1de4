"""Custom checks (module:callable and entry points) and run_checks over a completion."""

from __future__ import annotations

import textwrap
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from canaryflow.checks import AnyCheck, CustomCheck, _custom, check_labels, run_checks
from canaryflow.definitions import Probe
from canaryflow.records import CheckResult, Completion, ToolCall

CHECK = TypeAdapter(AnyCheck)


@pytest.fixture
def plugin_module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    """An importable module with check functions of every supported shape."""
    (tmp_path / "cf_test_plugin.py").write_text(
        textwrap.dedent(
            """
            from canaryflow.records import CheckResult

            def has_word(output, word, min_count=1):
                return output.split().count(word) >= min_count

            def detailed(output):
                return CheckResult(name="", passed=output == "ok", value=len(output), reason="len")

            def sees_extras(output, extras):
                return extras.finish_reason == "stop"

            def crashes(output):
                raise RuntimeError("boom")

            def says_maybe(output):
                return "maybe"

            NOT_CALLABLE = 3
            """
        )
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    _custom.resolve_check_function.cache_clear()
    yield "cf_test_plugin"
    _custom.resolve_check_function.cache_clear()


def test_custom_module_callable(plugin_module: str) -> None:
    check = CHECK.validate_python(
        {"type": "custom", "function": f"{plugin_module}:has_word", "params": {"word": "ok"}}
    )
    assert isinstance(check, CustomCheck)
    result = check.run("ok then ok")
    assert result.passed and result.name == "has_word"
    assert not check.run("nope").passed
    strict = check.model_copy(update={"params": {"word": "ok", "min_count": 3}})
    assert not strict.run("ok then ok").passed


def test_custom_check_result_and_extras(plugin_module: str) -> None:
    detailed = CustomCheck(function=f"{plugin_module}:detailed", name="my_check")
    result = detailed.run("ok")
    assert result.passed and result.value == 2 and result.name == "my_check"
    from canaryflow.checks import CheckInput

    sees = CustomCheck(function=f"{plugin_module}:sees_extras")
    assert sees.run("x", CheckInput(finish_reason="stop")).passed
    assert not sees.run("x", CheckInput(finish_reason="length")).passed


def test_custom_check_that_crashes_or_misbehaves_fails(plugin_module: str) -> None:
    crash = CustomCheck(function=f"{plugin_module}:crashes").run("x")
    assert not crash.passed and "RuntimeError: boom" in crash.reason
    maybe = CustomCheck(function=f"{plugin_module}:says_maybe").run("x")
    assert not maybe.passed and "not bool/CheckResult" in maybe.reason


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("no_such_module_xyz:fn", "cannot import module 'no_such_module_xyz'"),
        ("cf_test_plugin:missing", "has no attribute 'missing'"),
        ("cf_test_plugin:NOT_CALLABLE", "is not callable"),
        (":fn", "must look like 'package.module:callable'"),
        ("not_registered_anywhere", "no check function 'not_registered_anywhere'"),
    ],
)
def test_custom_import_failure_is_a_validation_error(
    plugin_module: str, function: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        CHECK.validate_python({"type": "custom", "function": function})


def test_custom_entry_point(plugin_module: str, monkeypatch: pytest.MonkeyPatch) -> None:
    eps = [
        EntryPoint(name="has_word", value=f"{plugin_module}:has_word", group="canaryflow.checks"),
        EntryPoint(name="broken", value="no_such_module_xyz:fn", group="canaryflow.checks"),
    ]
    monkeypatch.setattr(_custom, "entry_points", lambda group: [e for e in eps if e.group == group])
    check = CustomCheck(function="has_word", params={"word": "hi"})
    assert check.run("hi there").passed and check.label == "has_word"
    with pytest.raises(ValidationError, match="cannot load entry point 'broken'"):
        CustomCheck(function="broken")
    with pytest.raises(ValidationError, match=r"known: broken, has_word"):
        CustomCheck(function="nope")


# ---------------------------------------------------------------------------- run_checks


def _probe(**kw: object) -> Probe:
    base: dict[str, object] = {
        "id": "p1",
        "description": "d",
        "tags": ["fam"],
        "prompt": "hi",
        "checks": [{"type": "regex", "pattern": "a"}, {"type": "regex", "pattern": "b"}],
    }
    return Probe.model_validate({**base, **kw}).with_source("probes/x.yaml")


def test_run_checks_names_sources_and_order() -> None:
    probe = _probe(
        checks=[
            {"type": "regex", "pattern": "a"},
            {"type": "max_words", "limit": 1},
            {"type": "regex", "pattern": "b", "name": "has_b"},
            {"type": "regex", "pattern": "c"},
        ]
    )
    results = run_checks(probe, Completion(text="a b", finish_reason="stop"))
    assert [r.name for r in results] == ["regex#1", "max_words", "has_b", "regex#2"]
    assert [r.passed for r in results] == [True, False, True, False]
    assert {r.source for r in results} == {"probes/x.yaml:p1"}
    assert all(isinstance(r, CheckResult) for r in results)
    assert check_labels(probe.checks) == tuple(r.name for r in results)


def test_run_checks_error_completion_yields_no_verdicts() -> None:
    failed = Completion(finish_reason="error", error="HTTP 500", error_kind="server")
    assert run_checks(_probe(), failed) == ()
    errored_text = Completion(text="a", finish_reason="stop", error="timeout after partial")
    assert run_checks(_probe(), errored_text) == ()


def test_run_checks_passes_finish_reason_and_tool_calls() -> None:
    probe = _probe(
        tools=[{"name": "get_weather"}],
        checks=[
            {"type": "tool_call", "function": "get_weather", "arguments": {"city": "Oslo"}},
            {"type": "finish_reason", "expected": "tool_use"},
        ],
    )
    completion = Completion(
        finish_reason="tool_use",
        tool_calls=(ToolCall(name="get_weather", arguments={"city": "Oslo"}),),
    )
    assert all(r.passed for r in run_checks(probe, completion))
