"""Custom checks (module:callable and entry points) and run_checks over a completion."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from importlib.metadata import EntryPoint
from pathlib import Path

import pytest
from pydantic import TypeAdapter, ValidationError

from canaryflow.checks import AnyCheck, CustomCheck, _custom, check_labels, run_checks
from canaryflow.definitions import Probe, load_probes
from canaryflow.records import CheckResult, Completion, ToolCall

CHECK = TypeAdapter(AnyCheck)


@pytest.fixture
def checks_dir(tmp_path: Path) -> Iterator[Path]:
    """A ``[checks] local_dir`` holding a module with check functions of every shape."""
    local = tmp_path / "checks"
    (local / "pkg").mkdir(parents=True)
    (local / "cf_test_plugin.py").write_text(
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
    (local / "pkg" / "__init__.py").write_text("")
    (local / "pkg" / "banking.py").write_text("def iban_ok(output):\n    return 'GB' in output\n")
    (local / "broken.py").write_text("raise ImportError('half-written')\n")
    _custom.resolve_check_function.cache_clear()
    yield local
    _custom.resolve_check_function.cache_clear()


def custom(checks_dir: Path | None, function: str, **kw: object) -> CustomCheck:
    """A custom check validated the way the probe loader does, with the local directory."""
    data = {"type": "custom", "function": function, **kw}
    check = CHECK.validate_python(data, context={"checks_dir": checks_dir})
    assert isinstance(check, CustomCheck)
    return check


def test_custom_module_callable(checks_dir: Path) -> None:
    check = custom(checks_dir, "cf_test_plugin:has_word", params={"word": "ok"})
    result = check.run("ok then ok")
    assert result.passed and result.name == "has_word"
    assert not check.run("nope").passed
    strict = check.model_copy(update={"params": {"word": "ok", "min_count": 3}})
    assert not strict.run("ok then ok").passed
    assert custom(checks_dir, "pkg.banking:iban_ok").run("GB82 WEST").passed


def test_custom_check_result_and_extras(checks_dir: Path) -> None:
    detailed = custom(checks_dir, "cf_test_plugin:detailed", name="my_check")
    result = detailed.run("ok")
    assert result.passed and result.value == 2 and result.name == "my_check"
    from canaryflow.checks import CheckInput

    sees = custom(checks_dir, "cf_test_plugin:sees_extras")
    assert sees.run("x", CheckInput(finish_reason="stop")).passed
    assert not sees.run("x", CheckInput(finish_reason="length")).passed


def test_custom_check_that_crashes_or_misbehaves_fails(checks_dir: Path) -> None:
    crash = custom(checks_dir, "cf_test_plugin:crashes").run("x")
    assert not crash.passed and "RuntimeError: boom" in crash.reason
    maybe = custom(checks_dir, "cf_test_plugin:says_maybe").run("x")
    assert not maybe.passed and "not bool/CheckResult" in maybe.reason


@pytest.mark.parametrize(
    ("function", "message"),
    [
        ("broken:fn", "cannot import module 'broken'"),
        ("no_such_module_xyz:fn", "'no_such_module_xyz:fn' is not allowed"),
        ("cf_test_plugin:missing", "has no attribute 'missing'"),
        ("cf_test_plugin:NOT_CALLABLE", "is not callable"),
        (":fn", "must look like 'package.module:callable'"),
        ("../etc:fn", "must look like 'package.module:callable'"),
        ("not_registered_anywhere", "no check function 'not_registered_anywhere'"),
    ],
)
def test_custom_import_failure_is_a_validation_error(
    checks_dir: Path, function: str, message: str
) -> None:
    with pytest.raises(ValidationError, match=message):
        custom(checks_dir, function)


@pytest.mark.parametrize("function", ["os:system", "subprocess:getoutput", "builtins:eval"])
def test_arbitrary_importable_callables_are_refused(checks_dir: Path, function: str) -> None:
    """Regression: ``os:system`` passed validation and ran the model's output as a command."""
    for local in (None, checks_dir):
        with pytest.raises(ValidationError, match=f"{function!r} is not allowed"):
            custom(local, function)


def test_module_outside_the_local_dir_is_refused(checks_dir: Path, tmp_path: Path) -> None:
    """A module importable from sys.path, or reached by a symlink, is not under local_dir."""
    (tmp_path / "elsewhere.py").write_text("def ok(output):\n    return True\n")
    (checks_dir / "linked.py").symlink_to(tmp_path / "elsewhere.py")
    for function in ("elsewhere:ok", "linked:ok"):
        with pytest.raises(ValidationError, match="is not allowed"):
            custom(checks_dir, function)
    # Without a configured directory, not even the local module resolves.
    with pytest.raises(ValidationError, match=r"local_dir \(not configured\)"):
        custom(None, "cf_test_plugin:has_word", params={"word": "x"})


def test_custom_check_in_a_probe_file_uses_the_configured_dir(
    checks_dir: Path, tmp_path: Path
) -> None:
    probes = tmp_path / "probes"
    probes.mkdir()
    (probes / "custom.yaml").write_text(
        textwrap.dedent(
            """
            probes:
              - id: ok-word
                description: d
                tags: [fam]
                prompt: hi
                checks: [{type: custom, function: "cf_test_plugin:has_word", params: {word: ok}}]
              - id: shell
                description: d
                tags: [fam]
                prompt: hi
                checks: [{type: custom, function: "os:system"}]
            """
        )
    )
    result = load_probes(probes, checks_dir=checks_dir)
    assert [p.id for p in result.probes] == ["ok-word"]
    assert len(result.errors) == 1
    assert (
        result.errors[0]
        .line()
        .startswith(
            f"{probes / 'custom.yaml'}:12: probes[1].checks[0].function: 'os:system' is not allowed"
        )
    )
    assert result.probes[0].checks[0].run("ok").passed
    # A probe loaded elsewhere (no local_dir) cannot name the local module.
    assert [e.field for e in load_probes(probes).errors] == [
        "probes[0].checks[0].function",
        "probes[1].checks[0].function",
    ]


def test_custom_entry_point(checks_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (checks_dir.parent / "cf_installed_plugin.py").write_text(
        "def has_word(output, word):\n    return word in output.split()\n"
    )
    monkeypatch.syspath_prepend(str(checks_dir.parent))
    eps = [
        EntryPoint(
            name="has_word", value="cf_installed_plugin:has_word", group="canaryflow.checks"
        ),
        EntryPoint(name="broken", value="no_such_module_xyz:fn", group="canaryflow.checks"),
    ]
    monkeypatch.setattr(_custom, "entry_points", lambda group: [e for e in eps if e.group == group])
    check = CustomCheck(function="has_word", params={"word": "hi"})
    assert check.run("hi there").passed and check.label == "has_word"
    # The registered value may be written out; it is allowed because it is registered.
    by_value = CustomCheck(function="cf_installed_plugin:has_word", params={"word": "hi"})
    assert by_value.run("hi there").passed
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


def test_probes_validate_uses_the_configs_local_dir(tmp_path: Path) -> None:
    """`probes validate` resolves custom checks against [checks] local_dir of the config."""
    from typer.testing import CliRunner

    from canaryflow.cli import app

    project = tmp_path / "project"
    (project / "probes").mkdir(parents=True)
    (project / "my_checks").mkdir()
    (project / "my_checks" / "words.py").write_text(
        "def has_ok(output):\n    return 'ok' in output\n"
    )
    (project / "canaryflow.toml").write_text(
        '[models.bot]\nprovider = "simulator"\nmodel = "m"\n[checks]\nlocal_dir = "my_checks"\n'
    )
    probe = "id: p\ndescription: d\ntags: [t]\nprompt: hi\nchecks: [{type: custom, function: %s}]\n"
    (project / "probes" / "a.yaml").write_text(probe % '"words:has_ok"')
    runner = CliRunner(env={"COLUMNS": "250"})
    result = runner.invoke(app, ["probes", "validate", "-c", str(project / "canaryflow.toml")])
    assert result.exit_code == 0, result.output
    (project / "probes" / "b.yaml").write_text(probe.replace("id: p", "id: q") % '"os:system"')
    result = runner.invoke(app, ["probes", "validate", "-c", str(project / "canaryflow.toml")])
    assert result.exit_code == 2
    assert "b.yaml:5: checks[0].function: 'os:system' is not allowed" in result.output
