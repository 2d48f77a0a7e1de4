"""Every built-in check: pass and fail cases, the value it reports, and load-time errors."""

from __future__ import annotations

import pytest
from pydantic import TypeAdapter, ValidationError

from canaryflow.checks import (
    CHECK_TYPES,
    AnyCheck,
    CheckInput,
    ContainsCheck,
    EqualsCheck,
    FinishReasonCheck,
    JsonPathCheck,
    JsonValidCheck,
    MaxWordsCheck,
    MinWordsCheck,
    NoRefusalCheck,
    NotContainsCheck,
    NotRegexCheck,
    NumberCheck,
    RefusalCheck,
    RegexCheck,
    ToolCallCheck,
    detect_refusal,
    extract_numbers,
    normalize_output,
    parse_json_path,
)
from canaryflow.records import ToolCall

CHECK = TypeAdapter(AnyCheck)


def test_registry_and_union_agree() -> None:
    assert len(CHECK_TYPES) == 17
    for name, cls in CHECK_TYPES.items():
        assert cls.model_config["frozen"] and cls.model_config["extra"] == "forbid"
        assert cls.model_fields["type"].default == name


def test_configs_are_frozen_and_strict() -> None:
    check = CHECK.validate_python({"type": "contains", "text": "x"})
    with pytest.raises(ValidationError):
        check.text = "y"  # type: ignore[misc]
    with pytest.raises(ValidationError, match="Extra inputs are not permitted"):
        CHECK.validate_python({"type": "contains", "text": "x", "txt": "y"})
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        CHECK.validate_python({"type": "sentiment"})


@pytest.mark.parametrize(
    ("check", "output", "passed"),
    [
        (EqualsCheck(expected="Paris"), " Paris\n", True),
        (EqualsCheck(expected="Paris"), "paris", False),
        (EqualsCheck(expected="Paris", ignore_case=True), "PARIS", True),
        (EqualsCheck(expected="a b", normalize_whitespace=True), "a \n  b", True),
        (EqualsCheck(expected="a b"), "a  b", False),
        (ContainsCheck(text="Rome"), "It is Rome.", True),
        (ContainsCheck(text="rome"), "It is Rome.", False),
        (ContainsCheck(text="rome", ignore_case=True), "It is Rome.", True),
        (NotContainsCheck(text="import os"), "I can't help.", True),
        (NotContainsCheck(text="import os"), "import os\nos.walk('/')", False),
        (RegexCheck(pattern=r"\d{4}"), "year 2024!", True),
        (RegexCheck(pattern=r"\d{4}", fullmatch=True), "year 2024", False),
        (RegexCheck(pattern=r"yes\.?", fullmatch=True, ignore_case=True), " Yes. \n", True),
        (RegexCheck(pattern=r"^b$", multiline=True), "a\nb\nc", True),
        (RegexCheck(pattern=r"a.b", dotall=True), "a\nb", True),
        (NotRegexCheck(pattern=r"\bthe\b", ignore_case=True), "La capitale est Rome", True),
        (NotRegexCheck(pattern=r"\bthe\b", ignore_case=True), "The capital is Rome", False),
        (MaxWordsCheck(limit=3), "one two three", True),
        (MaxWordsCheck(limit=3), "one two three four", False),
        (MinWordsCheck(limit=2), "one - two", True),
        (MinWordsCheck(limit=3), "one - two", False),
    ],
)
def test_text_checks(check, output: str, passed: bool) -> None:
    result = check.run(output)
    assert result.passed is passed, result.reason
    assert result.name == check.type and result.reason


def test_text_check_values() -> None:
    assert RegexCheck(pattern=r"\d+").run("abc 42 7").value == "42"
    assert MaxWordsCheck(limit=1).run("a b c").value == 3
    assert NotRegexCheck(pattern="the").run("and the").value == "the"
    assert "expected 'Paris'" in EqualsCheck(expected="Paris").run("Lyon").reason


def test_bad_regex_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="invalid regular expression"):
        CHECK.validate_python({"type": "regex", "pattern": "(unclosed"})
    with pytest.raises(ValidationError, match="invalid regular expression"):
        CHECK.validate_python({"type": "not_regex", "pattern": "*"})


# ------------------------------------------------------------------------------------ JSON


@pytest.mark.parametrize(
    ("output", "passed"),
    [
        ('{"a": 1}', True),
        ('```json\n{"a": 1}\n```', True),
        ("```\n[1, 2]\n```", True),
        ('Sure! {"a": 1}', False),
        ("{'a': 1}", False),
        ("", False),
    ],
)
def test_json_valid(output: str, passed: bool) -> None:
    assert JsonValidCheck().run(output).passed is passed


def test_json_valid_strict_refuses_fences() -> None:
    assert not JsonValidCheck(strict=True).run('```json\n{"a": 1}\n```').passed
    assert JsonValidCheck(strict=True).run('{"a": 1}').value == "dict"


SCHEMA = {
    "type": "object",
    "required": ["name", "age"],
    "properties": {"name": {"type": "string"}, "age": {"type": "integer", "minimum": 0}},
}


def test_json_schema_pass_and_fail() -> None:
    check = CHECK.validate_python({"type": "json_schema", "schema": SCHEMA})
    assert check.run('{"name": "Ann", "age": 3}').passed
    bad = check.run('{"name": "Ann", "age": -1, "x": 1}')
    assert not bad.passed and bad.value == 1 and "$.age" in bad.reason
    missing = check.run('{"age": "3"}')
    assert not missing.passed and missing.value == 2 and "(+1 more)" in missing.reason
    assert "not valid JSON" in check.run("name: Ann").reason
    assert check.model_dump()["schema"] == SCHEMA


def test_invalid_json_schema_is_a_validation_error() -> None:
    with pytest.raises(ValidationError, match="invalid JSON Schema at properties/age/type"):
        CHECK.validate_python(
            {"type": "json_schema", "schema": {"properties": {"age": {"type": "integr"}}}}
        )


@pytest.mark.parametrize(
    ("path", "steps"),
    [
        ("$", ()),
        ("$.items[0].amount", ("items", 0, "amount")),
        ("$[1][-1]", (1, -1)),
        ("$['odd key'][\"x.y\"]", ("odd key", "x.y")),
        ("$.a_b-c", ("a_b-c",)),
    ],
)
def test_json_path_parser(path: str, steps: tuple) -> None:
    assert parse_json_path(path) == steps


@pytest.mark.parametrize(
    "path", ["items[0]", "$.items[*]", "$..x", "$.a[0:2]", "$.a[?(@.b)]", "$."]
)
def test_json_path_parser_rejects(path: str) -> None:
    with pytest.raises(ValueError):
        parse_json_path(path)
    with pytest.raises(ValidationError, match="json path"):
        CHECK.validate_python({"type": "json_path", "path": path, "equals": 1})


def test_json_path_check() -> None:
    doc = '{"items": [{"amount": 12.5, "ok": true}], "n": 1}'
    assert JsonPathCheck(path="$.items[0].amount", equals=12.5).run(doc).passed
    assert JsonPathCheck(path="$.n", equals=1.0).run(doc).passed
    wrong = JsonPathCheck(path="$.items[0].amount", equals=13).run(doc)
    assert not wrong.passed and wrong.value == 12.5
    # JSON equality: true is not 1 and "1" is not 1.
    assert not JsonPathCheck(path="$.items[0].ok", equals=1).run(doc).passed
    assert not JsonPathCheck(path="$.n", equals="1").run(doc).passed
    absent = JsonPathCheck(path="$.items[3].amount", equals=1).run(doc)
    assert not absent.passed and "$.items[3] does not exist" in absent.reason
    assert not JsonPathCheck(path="$.n", equals=1).run("not json").passed


# ---------------------------------------------------------------------- dates and numbers


def test_iso_date() -> None:
    check = CHECK.validate_python({"type": "iso_date", "expected": "2024-04-03"})
    assert check.run("The date is 2024-04-03.").passed
    assert check.run("2024-04-03 (3 April), not 2024-03-04").value == "2024-04-03"
    transposed = check.run("2024-03-04")
    assert not transposed.passed and transposed.value == "2024-03-04"
    assert "transposed" in transposed.reason
    assert check.run("03/04/2024").value is None
    assert not check.run("12024-04-03").passed


def test_number_extraction() -> None:
    assert extract_numbers("1,234 × 56 = 69,104") == [1234, 56, 69104]
    assert extract_numbers("−3.5 and +2, v2") == [-3.5, 2]
    assert extract_numbers("It arrives at 17:25.") == [17, 25]


@pytest.mark.parametrize(
    ("check", "output", "passed", "value"),
    [
        (NumberCheck(expected=69104), "1,234 × 56 = 69,104", True, 69104),
        (NumberCheck(expected=69104, which="first"), "1,234 × 56 = 69,104", False, 1234),
        (NumberCheck(expected=397.8, abs_tol=0.01), "About 397.81", True, 397.81),
        (NumberCheck(expected=100, rel_tol=0.01), "101", True, 101),
        (NumberCheck(expected=100, rel_tol=0.001), "101", False, 101),
        (NumberCheck(expected=1), "none", False, None),
    ],
)
def test_number(check: NumberCheck, output: str, passed: bool, value: object) -> None:
    result = check.run(output)
    assert result.passed is passed and result.value == value


def test_number_rejects_non_finite() -> None:
    with pytest.raises(ValidationError, match="finite"):
        NumberCheck(expected=float("nan"))


# ----------------------------------------------------------------------------- behaviour


@pytest.mark.parametrize(
    "text",
    [
        "I can't help with that.",
        "I’m sorry, but I cannot do that.",
        "I cannot provide instructions for making explosives.",
        "I won't help you with this request.",
        "I'm unable to assist with that.",
        "Sorry — I must decline.",
        "That request goes against my guidelines.",
    ],
)
def test_refusal_detector_finds_refusals(text: str) -> None:
    assert detect_refusal(text)
    assert RefusalCheck().run(text).passed
    assert not NoRefusalCheck().run(text).passed


@pytest.mark.parametrize(
    "text",
    [
        "Use `kill -9 <PID>`; you can't kill PID 1 though.",
        "I cannot stress enough how useful SIGTERM is.",
        "Never mix bleach with ammonia.",
        "We don't support Windows, but on Linux run `pkill -f app`.",
        "Sure: " + "x " * 200 + "I can't help with that.",  # beyond the refusal window
    ],
)
def test_refusal_detector_ignores_helpful_answers(text: str) -> None:
    assert detect_refusal(text) is None
    assert NoRefusalCheck().run(text).passed
    assert not RefusalCheck().run(text).passed


def test_refusal_from_finish_reason_and_extra_phrases() -> None:
    assert RefusalCheck().run("", CheckInput(finish_reason="refusal")).passed
    assert RefusalCheck(extra_phrases=("Computer says no",)).run("computer says no.").passed


def test_finish_reason() -> None:
    check = FinishReasonCheck(expected="length")
    assert check.run("cut", CheckInput(finish_reason="length")).passed
    result = check.run("done", CheckInput(finish_reason="stop"))
    assert not result.passed and result.value == "stop"
    assert not check.run("no extras").passed
    with pytest.raises(ValidationError):
        FinishReasonCheck(expected="truncated")  # type: ignore[arg-type]


def test_tool_call() -> None:
    calls = CheckInput(
        finish_reason="tool_use",
        tool_calls=(
            ToolCall(name="lookup_order", arguments={"order_id": "A-1"}),
            ToolCall(name="get_weather", arguments={"city": "lisbon ", "unit": "celsius", "n": 2}),
        ),
    )
    ok = ToolCallCheck(
        function="get_weather", required=("unit",), arguments={"city": "Lisbon", "n": 2.0}
    ).run("", calls)
    assert ok.passed and len(ok.value) == 2
    wrong_value = ToolCallCheck(function="get_weather", arguments={"unit": "fahrenheit"})
    assert "unit='celsius', expected 'fahrenheit'" in wrong_value.run("", calls).reason
    missing = ToolCallCheck(function="lookup_order", required=("order_id", "email"))
    assert "missing argument 'email'" in missing.run("", calls).reason
    none = ToolCallCheck(function="cancel_order").run("I'll cancel it.", calls)
    assert not none.passed and "got lookup_order, get_weather" in none.reason
    assert not ToolCallCheck(function="x").run("prose").passed


# ------------------------------------------------------------------------------ helpers


@pytest.mark.parametrize(
    ("a", "b", "normalized"),
    [
        ("The date is 2024-04-03.", "the date is   2024-04-03", "the date is 2024-04-03"),
        ("Yes!\n", "yes", "yes"),
        ("  A\tB \n C ... ", "a b c", "a b c"),
    ],
)
def test_normalize_output(a: str, b: str, normalized: str) -> None:
    assert normalize_output(a) == normalize_output(b) == normalized


def test_normalize_output_keeps_different_answers_apart() -> None:
    assert normalize_output("2024-04-03") != normalize_output("2024-03-04")
    assert normalize_output("3.5") == "3.5"
