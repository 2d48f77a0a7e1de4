"""The probe format: models, the line-keeping loader, error locations, the JSON Schema."""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest
from pydantic import ValidationError

from canaryflow.definitions import (
    PROBE_SCHEMA_PATH,
    Probe,
    ProbeSet,
    expand_filler,
    filler_words,
    load_probes,
    load_yaml,
    probe_json_schema,
    render_probe_schema,
)
from canaryflow.errors import DataErrors

HEADER = "# yaml-language-server: $schema=../src/canaryflow/schemas/probe.schema.json\n"


def write(tmp_path: Path, name: str, body: str) -> Path:
    path = tmp_path / name
    path.write_text(HEADER + textwrap.dedent(body).lstrip("\n"), encoding="utf-8")
    return path


def line_of(path: Path, needle: str, nth: int = 1) -> int:
    """1-based line of the nth line containing ``needle``."""
    hits = [i for i, ln in enumerate(path.read_text().splitlines(), 1) if needle in ln]
    return hits[nth - 1]


# ------------------------------------------------------------------------------ the model


def minimal(**kw: object) -> dict[str, object]:
    base: dict[str, object] = {
        "id": "p",
        "description": "d",
        "tags": ["fam", "other"],
        "prompt": "Say hi.",
        "checks": [{"type": "contains", "text": "hi"}],
    }
    base.update(kw)
    return base


def test_defaults_and_request() -> None:
    probe = Probe.model_validate(minimal())
    assert (probe.repetitions, probe.temperature, probe.max_tokens, probe.stream) == (
        3,
        0.0,
        256,
        False,
    )
    assert probe.family == "fam" and probe.source == "p"
    req = probe.to_request()
    assert [(m.role, m.content) for m in req.messages] == [("user", "Say hi.")]
    assert req.max_tokens == 256 and req.temperature == 0 and req.tools == ()
    assert req.metadata == {"probe_id": "p", "family": "fam"}


def test_messages_tools_and_stream_reach_the_request() -> None:
    probe = Probe.model_validate(
        minimal(
            prompt=None,
            messages=[
                {"role": "system", "content": "Be brief."},
                {"role": "user", "content": "Weather in Oslo?"},
            ],
            tools=[{"name": "get_weather", "parameters": {"type": "object"}}],
            checks=[{"type": "tool_call", "function": "get_weather"}],
            max_tokens=32,
            temperature=0.5,
            stream=True,
        )
    )
    req = probe.to_request()
    assert req.system == "Be brief." and req.messages[-1].content == "Weather in Oslo?"
    assert req.tools[0].name == "get_weather" and req.stream and req.max_tokens == 32
    assert req.temperature == 0.5


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"messages": [{"role": "user", "content": "x"}]}, "not both"),
        ({"prompt": None}, r"give 'prompt' \(a string\) or 'messages'"),
        ({"prompt": "   "}, "prompt is empty"),
        ({"prompt": None, "messages": [{"role": "system", "content": "x"}]}, "end with a user"),
        ({"prompt": None, "messages": [{"role": "assistant", "content": "x"}]}, "'system' or"),
        ({"tags": []}, "at least 1 item"),
        ({"tags": ["Bad Tag"]}, "should match pattern"),
        ({"id": "Has Spaces"}, "should match pattern"),
        ({"checks": []}, "at least 1 item"),
        ({"repetitions": 0}, "greater than or equal to 1"),
        ({"temperature": 3}, "less than or equal to 2"),
        ({"seed": 1}, "Extra inputs are not permitted"),
        ({"checks": [{"type": "tool_call", "function": "f"}]}, "tools are: none"),
        ({"tools": [{"name": "f", "parameters": {"type": 5}}]}, "invalid JSON Schema"),
        ({"prompt": "{{filler:999999}}"}, "filler length"),
    ],
)
def test_invalid_probes(changes: dict[str, object], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Probe.model_validate(minimal(**changes))


def test_probe_is_frozen() -> None:
    probe = Probe.model_validate(minimal())
    with pytest.raises(ValidationError):
        probe.id = "q"  # type: ignore[misc]
    assert probe.with_source("probes/a.yaml").source == "probes/a.yaml:p"
    assert probe.source == "p"


def test_filler_is_deterministic_and_exact() -> None:
    text = filler_words(1234)
    assert len(text.split()) == 1234 and text == filler_words(1234)
    assert filler_words(1234, "b") != text
    assert not any(ch.isdigit() for ch in text) and " is " not in f" {text} "
    expanded = expand_filler("start {{filler:10}} middle {{ filler : 5 : x }} end")
    assert len(expanded.split()) == 3 + 10 + 5
    assert expand_filler("no directive") == "no directive"
    probe = Probe.model_validate(minimal(prompt="Doc: {{filler:300}} Question?"))
    assert len(probe.prompt.split()) == 302  # type: ignore[union-attr]


# --------------------------------------------------------------------------------- YAML


def test_load_yaml_records_lines_and_duplicate_keys() -> None:
    doc, errors = load_yaml("a: 1\nb:\n  - x: 2\n    y: 3\n  - z\na: 4\n", "f.yaml")
    assert doc is not None and doc.data == {"a": 4, "b": [{"x": 2, "y": 3}, "z"]}
    assert doc.lines[("b", 0, "y")] == 4 and doc.lines[("b", 1)] == 5
    assert doc.line_of(("b", 0, "missing")) == 3
    assert [e.line() for e in errors] == ["f.yaml:6: a: duplicate key (the later value would win)"]


def test_load_yaml_syntax_error_has_a_line() -> None:
    doc, errors = load_yaml("a: [1, 2\nb: 3\n", "f.yaml")
    assert doc is None and errors[0].line_no == 2 and "invalid YAML" in errors[0].message


# ------------------------------------------------------------------------------- loader

BAD = """
probes:
  - id: ok-one
    description: fine
    tags: [t]
    prompt: hello
    checks:
      - {type: contains, text: hi}
  - id: missing-checks
    description: no checks
    tags: [t]
    prompt: hello
  - id: wrong-type
    description: d
    tags: [t]
    prompt: hello
    repetitions: many
    checks:
      - {type: contains, text: hi}
  - id: unknown-check
    description: d
    tags: [t]
    prompt: hello
    checks:
      - {type: sentiment, expected: positive}
  - id: bad-regex
    description: d
    tags: [t]
    prompt: hello
    checks:
      - type: contains
        text: x
      - type: regex
        pattern: "(unclosed"
  - id: bad-schema
    description: d
    tags: [t]
    prompt: hello
    checks:
      - type: json_schema
        schema: {type: integr}
  - id: both
    description: d
    tags: [t]
    prompt: hello
    messages: [{role: user, content: hi}]
    checks:
      - {type: contains, text: hi}
  - id: bad-path
    description: d
    tags: [t]
    prompt: hello
    checks:
      - {type: json_path, path: "$.items[*]", equals: 1}
  - id: ok-one
    description: duplicate of the first
    tags: [t]
    prompt: hello
    checks:
      - {type: contains, text: hi}
"""

GOOD_SINGLE = """
id: good-single
description: A file holding one probe.
tags: [t]
prompt: hello
checks:
  - {type: contains, text: hi}
"""


@pytest.fixture
def bad_dir(tmp_path: Path) -> Path:
    write(tmp_path, "a_bad.yaml", BAD)
    write(tmp_path, "b_good.yaml", GOOD_SINGLE)
    write(tmp_path, "c_syntax.yaml", "probes:\n  - id: x\n    tags: [t\n    prompt: y\n")
    write(tmp_path, "d_dupe.yml", GOOD_SINGLE.replace("A file", "Same id, another file"))
    (tmp_path / "notes.txt").write_text("not a probe file")
    return tmp_path


def test_all_problems_at_once_and_valid_probes_still_load(bad_dir: Path) -> None:
    result = load_probes(bad_dir)
    assert isinstance(result, ProbeSet) and not result.ok
    assert [p.id for p in result] == ["ok-one", "good-single"]
    bad, good = str(bad_dir / "a_bad.yaml"), str(bad_dir / "b_good.yaml")
    assert result.get("good-single").source == f"{good}:good-single"

    a = bad_dir / "a_bad.yaml"
    expected = {
        (bad, line_of(a, "id: missing-checks"), "probes[1].checks", "required field is missing"),
        (bad, line_of(a, "repetitions: many"), "probes[2].repetitions", "valid integer"),
        (bad, line_of(a, "type: sentiment"), "probes[3].checks[0]", "tag 'sentiment'"),
        (
            bad,
            line_of(a, 'pattern: "(unclosed"'),
            "probes[4].checks[1].pattern",
            "invalid regular expression: missing ), unterminated subpattern",
        ),
        (
            bad,
            line_of(a, "schema: {type: integr}"),
            "probes[5].checks[0].schema",
            "invalid JSON Schema",
        ),
        (bad, line_of(a, "prompt: hello", 7), "probes[6].prompt", "not both"),
        (
            bad,
            line_of(a, "path:"),
            "probes[7].checks[0].path",
            "unsupported json path syntax",
        ),
        (
            bad,
            line_of(a, "id: ok-one", 2),
            "probes[8].id",
            f"duplicate probe id 'ok-one' (first defined at {bad}:{line_of(a, 'id: ok-one')})",
        ),
        (str(bad_dir / "c_syntax.yaml"), 5, None, "invalid YAML"),
        (
            str(bad_dir / "d_dupe.yml"),
            2,
            "id",
            f"duplicate probe id 'good-single' (first defined at {good}:2)",
        ),
    }
    got = {(e.file, e.line_no, e.field, e.message) for e in result.errors}
    assert len(got) == len(expected) == len(result.errors)
    for file, line, field, fragment in expected:
        matches = [g for g in got if g[:3] == (file, line, field) and fragment in g[3]]
        assert matches, f"no error {file}:{line}: {field}: ...{fragment}... in {sorted(got)}"


def test_error_lines_read_like_the_docs(bad_dir: Path) -> None:
    result = load_probes([bad_dir / "a_bad.yaml"])
    line = line_of(bad_dir / "a_bad.yaml", 'pattern: "(unclosed"')
    text = [e.line() for e in result.errors]
    assert (
        f"{bad_dir / 'a_bad.yaml'}:{line}: probes[4].checks[1].pattern: invalid regular "
        "expression: missing ), unterminated subpattern at position 0"
    ) in text
    with pytest.raises(DataErrors) as info:
        result.raise_for_errors()
    assert len(info.value.errors) == len(result.errors) and str(info.value) == "\n".join(text)


def test_relative_paths_are_reported_as_given(
    bad_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(bad_dir.parent)
    result = load_probes(f"{bad_dir.name}/a_bad.yaml")
    assert result.errors[0].file == f"{bad_dir.name}/a_bad.yaml"


@pytest.mark.parametrize(
    ("body", "line", "field", "fragment"),
    [
        ("", None, None, "empty file"),
        ("- just\n- a list\n", 2, None, "expected a probe mapping"),
        ("probes: {}\n", 2, "probes", "non-empty list"),
        ("probes: []\n", 2, "probes", "non-empty list"),
        ("version: 1\nprobes:\n  - x\n", 2, "version", "unknown top-level key"),
        ("probes:\n  - 5\n", 3, "probes[0]", "valid dictionary"),
        (GOOD_SINGLE + "colour: blue\n", 8, "colour", "unknown field"),
        (GOOD_SINGLE + "prompt: again\n", 8, "prompt", "duplicate key"),
        (GOOD_SINGLE.replace("[t]", "[]"), 4, "tags", "at least 1 item"),
    ],
)
def test_file_level_problems(
    tmp_path: Path, body: str, line: int | None, field: str | None, fragment: str
) -> None:
    path = write(tmp_path, "p.yaml", body)
    result = load_probes(path)
    assert result.errors, "expected a problem"
    first = result.errors[0]
    assert (first.file, first.line_no, first.field) == (str(path), line, field)
    assert fragment in first.message


def test_missing_paths_and_empty_directories(tmp_path: Path) -> None:
    result = load_probes([tmp_path / "nope.yaml", tmp_path])
    assert [e.message for e in result.errors] == [
        "no such file or directory",
        "no probe files (*.yaml) here",
    ]
    assert len(result) == 0


def test_single_probe_file_and_list_file(tmp_path: Path) -> None:
    single = write(tmp_path, "one.yaml", GOOD_SINGLE)
    result = load_probes(single)
    assert result.ok and [p.id for p in result] == ["good-single"]
    assert result.families() == {"t": result.probes}
    with pytest.raises(KeyError):
        result.get("absent")


# ------------------------------------------------------------------------------- schema


def test_committed_schema_is_up_to_date() -> None:
    committed = PROBE_SCHEMA_PATH.read_text(encoding="utf-8")
    assert json.loads(committed) == probe_json_schema(), (
        "regenerate: canaryflow schema probe > src/canaryflow/schemas/probe.schema.json"
    )
    assert committed == render_probe_schema()


def test_schema_carries_the_docs_and_every_check_type() -> None:
    schema = probe_json_schema()
    probe = schema["$defs"]["Probe"]
    assert probe["additionalProperties"] is False
    assert probe["properties"]["tags"]["description"].startswith("Families")
    mapping = probe["properties"]["checks"]["items"]["discriminator"]["mapping"]
    from canaryflow.checks import CHECK_TYPES

    assert set(mapping) == set(CHECK_TYPES)
    regex = schema["$defs"]["RegexCheck"]["properties"]
    assert regex["fullmatch"]["description"].startswith("Require the whole output")
    assert "schema" in schema["$defs"]["JsonSchemaCheck"]["properties"]
