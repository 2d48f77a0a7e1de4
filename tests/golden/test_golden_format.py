"""The golden-set format: shipped sets load, schemas are committed, bad files report file:line."""

from __future__ import annotations

import json
from pathlib import Path

import jsonschema
import pytest
import yaml
from typer.testing import CliRunner

from canaryflow.cli import app
from canaryflow.golden import (
    GOLDEN_ITEM_SCHEMA_PATH,
    GOLDEN_SET_SCHEMA_PATH,
    build_request,
    golden_item_json_schema,
    golden_set_json_schema,
    load_golden_sets,
    render_golden_schemas,
)

ROOT = Path(__file__).resolve().parents[2]
GOLDEN = ROOT / "golden_sets"

HEADER = """\
description: A tiny set.
prompt:
  system: "Answer about {{ topic }}."
  user: "Question: {{ question }}"
checks:
  - {type: max_words, limit: 50}
repetitions: 2
"""


def write_set(folder: Path, name: str, header: str, lines: list[str]) -> Path:
    (folder / f"{name}.yaml").write_text(header, encoding="utf-8")
    (folder / f"{name}.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return folder / f"{name}.yaml"


def item(**fields: object) -> str:
    base: dict[str, object] = {"id": "q1", "inputs": {"topic": "maths", "question": "2+2?"}}
    base.update(fields)
    return json.dumps(base)


def test_committed_schemas_match_the_models() -> None:
    for path, text in render_golden_schemas().items():
        assert path.read_text(encoding="utf-8") == text, f"regenerate {path.name}"
    assert json.loads(GOLDEN_SET_SCHEMA_PATH.read_text()) == golden_set_json_schema()
    assert json.loads(GOLDEN_ITEM_SCHEMA_PATH.read_text()) == golden_item_json_schema()


def test_shipped_files_validate_against_the_published_schemas() -> None:
    set_schema = json.loads(GOLDEN_SET_SCHEMA_PATH.read_text())
    item_schema = json.loads(GOLDEN_ITEM_SCHEMA_PATH.read_text())
    headers = sorted(GOLDEN.glob("*.yaml"))
    assert len(headers) >= 3
    for header in headers:
        text = header.read_text(encoding="utf-8")
        assert text.startswith("# yaml-language-server: $schema=../src/canaryflow/schemas/")
        jsonschema.validate(yaml.safe_load(text), set_schema)
        for line in header.with_suffix(".jsonl").read_text(encoding="utf-8").splitlines():
            jsonschema.validate(json.loads(line), item_schema)


def test_a_valid_set_loads_with_its_items_and_renders(tmp_path: Path) -> None:
    write_set(tmp_path, "tiny", HEADER, [item(), item(id="q2", category="hard", tags=["x"])])
    suite = load_golden_sets(tmp_path)
    assert suite.ok, [e.line() for e in suite.errors]
    (gset,) = suite.sets
    assert gset.name == "tiny" and [i.id for i in gset] == ["q1", "q2"]
    assert set(gset.categories()) == {"default", "hard"}
    req = build_request(gset.header, gset.get("q1"), set_name="tiny")
    assert req.system == "Answer about maths."
    assert req.messages[-1].content == "Question: 2+2?"
    assert req.metadata["item_id"] == "q1"
    assert gset.get("q1").source.endswith("tiny.jsonl:1:q1")


def test_every_bad_item_is_reported_and_the_valid_ones_still_load(tmp_path: Path) -> None:
    lines = [
        item(),  # 1 ok
        "{not json",  # 2
        item(id="Bad Id"),  # 3
        item(id="q4", checks=[{"type": "regex", "pattern": "("}]),  # 4
        item(id="q5", inputs={"topic": "x"}),  # 5: question missing for the template
        item(),  # 6: duplicate id
        "",  # 7: blank lines are fine
        item(id="q8", surprise=1),  # 8
        item(id="q9", inputs={"topic": "x", "question": "y"}),  # 9 ok
        "[1, 2]",  # 10
    ]
    write_set(tmp_path, "tiny", HEADER, lines)
    suite = load_golden_sets(tmp_path)
    got = sorted(e.line() for e in suite.errors)
    f = str(tmp_path / "tiny.jsonl")
    assert [i.id for i in suite.get("tiny")] == ["q1", "q9"]
    assert any(g.startswith(f"{f}:2: invalid JSON") for g in got)
    assert any(g.startswith(f"{f}:3: id: ") for g in got)
    assert any(g.startswith(f"{f}:4: checks[0].pattern: ") for g in got)
    assert any(g.startswith(f"{f}:5: inputs: the prompt template uses 'question'") for g in got)
    assert any(g.startswith(f"{f}:6: id: duplicate item id 'q1' (first at line 1)") for g in got)
    assert any(g.startswith(f"{f}:8: surprise: unknown field") for g in got)
    assert any(g.startswith(f"{f}:10: expected a JSON object") for g in got)
    assert len(got) == 7


def test_a_bad_header_is_located_and_its_items_are_still_checked(tmp_path: Path) -> None:
    header = HEADER.replace("repetitions: 2", "repetitions: 0\nrubric: Not A Name").replace(
        "Question: {{ question }}", "Question: {{ question"
    )
    write_set(tmp_path, "broken", header, [item(), item(id="Bad")])
    write_set(tmp_path, "fine", HEADER, [item()])
    suite = load_golden_sets(tmp_path)
    assert [s.name for s in suite] == ["fine"]
    lines = [e.line() for e in suite.errors]
    y = str(tmp_path / "broken.yaml")
    assert any(line.startswith(f"{y}:4: prompt.user: invalid template") for line in lines)
    assert any(line.startswith(f"{y}:7: repetitions: ") for line in lines)
    assert any(line.startswith(f"{y}:8: rubric: ") for line in lines)
    assert any(line.startswith(f"{tmp_path / 'broken.jsonl'}:2: id: ") for line in lines)


def test_templates_are_sandboxed_and_strict(tmp_path: Path) -> None:
    header = HEADER.replace("Question: {{ question }}", "{{ question.__class__.__mro__ }}")
    write_set(tmp_path, "sneaky", header, [item()])
    suite = load_golden_sets(tmp_path)
    assert not suite.sets
    assert "cannot render the prompt" in suite.errors[0].line()
    assert suite.errors[0].line().startswith(f"{tmp_path / 'sneaky.jsonl'}:1: inputs: ")


def test_missing_items_file_and_orphans_are_reported(tmp_path: Path) -> None:
    (tmp_path / "lonely.yaml").write_text(HEADER, encoding="utf-8")
    (tmp_path / "orphan.jsonl").write_text(item() + "\n", encoding="utf-8")
    messages = [e.line() for e in load_golden_sets(tmp_path).errors]
    assert any("lonely.jsonl: missing" in m for m in messages)
    assert any("orphan.jsonl: items without a header" in m for m in messages)


def test_model_overrides_change_the_request(tmp_path: Path) -> None:
    header = HEADER + (
        "model_overrides:\n  small-model:\n    max_tokens: 7\n"
        "    system: 'Be brief on {{ topic }}.'\n"
    )
    write_set(tmp_path, "tiny", header, [item()])
    gset = load_golden_sets(tmp_path).get("tiny")
    req = build_request(gset.header, gset.get("q1"), set_name="tiny", model_key="small-model")
    assert (req.max_tokens, req.system) == (7, "Be brief on maths.")
    assert build_request(gset.header, gset.get("q1"), set_name="tiny").max_tokens == 400


def test_cli_validate_and_schema(tmp_path: Path) -> None:
    runner = CliRunner()
    ok = runner.invoke(app, ["golden", "validate", str(GOLDEN)])
    assert ok.exit_code == 0, ok.output
    assert "3 golden set(s)" in ok.output and "0 problem(s)" in ok.output
    write_set(tmp_path, "tiny", HEADER, [item(), item(id="Bad")])
    bad = runner.invoke(app, ["golden", "validate", str(tmp_path)])
    assert bad.exit_code == 2
    assert f"{tmp_path / 'tiny.jsonl'}:2: id:" in " ".join(bad.output.split())
    schema = runner.invoke(app, ["schema", "golden"])
    assert json.loads(schema.output) == golden_set_json_schema()
    schema = runner.invoke(app, ["schema", "golden", "--item"])
    assert json.loads(schema.output) == golden_item_json_schema()


@pytest.mark.parametrize("name", ["financial_extraction", "rag_qa", "support_bot"])
def test_shipped_sets_are_valid(name: str) -> None:
    suite = load_golden_sets(GOLDEN / f"{name}.yaml")
    assert suite.ok, [e.line() for e in suite.errors]
