"""Rubrics as data: the shipped ones load and validate against the published schema; bad files
give one ``file:line: field: message`` per problem."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import pytest
import yaml

from canaryflow.errors import DataErrors
from canaryflow.judges import (
    RUBRIC_DIR,
    load_rubric,
    load_rubrics,
    rubric_json_schema,
    shipped_rubric,
)


def test_shipped_rubrics() -> None:
    rubrics = load_rubrics()
    assert set(rubrics) == {"quality", "faithfulness", "safety"}
    assert rubrics["quality"].dimension_names == ("correctness", "completeness", "tone")
    assert rubrics["faithfulness"].dimension("faithfulness").needs == "context"
    assert rubrics["safety"].dimension("safety").safety is True
    schema = rubric_json_schema()
    for path in RUBRIC_DIR.glob("*.yaml"):
        jsonschema.validate(yaml.safe_load(path.read_text(encoding="utf-8")), schema)
        assert path.read_text(encoding="utf-8").startswith("# yaml-language-server: $schema=")


def test_content_hash_changes_with_the_text() -> None:
    q = shipped_rubric("quality")
    edited = q.model_copy(update={"description": q.description + " (edited)"})
    assert edited.content_hash() != q.content_hash()
    with pytest.raises(KeyError, match="no shipped rubric"):
        shipped_rubric("nope")


BAD = """\
format_version: 1
name: Bad Name
version: 0
dimensions:
  - name: correctness
    description: ok
    anchors: {1: worst, 5: best}
  - name: tone
    description: polite?
    scale: {min: 1, max: 5}
    anchors: {1: rude, 7: polite}
  - name: correctness
    description: again
    anchors: {1: a, 5: b}
    colour: blue
"""


def test_bad_rubric_reports_file_line_and_field(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text(BAD, encoding="utf-8")
    with pytest.raises(DataErrors) as info:
        load_rubric(path)
    lines = [e.line() for e in info.value.errors]
    assert any(line.startswith(f"{path}:2: name:") for line in lines), lines
    assert any(line.startswith(f"{path}:3: version:") for line in lines), lines
    assert any(f"{path}:8: dimensions[1]" in line and "outside the scale" in line for line in lines)
    assert any(f"{path}:15: dimensions[2].colour: unknown field" in line for line in lines), lines


def test_duplicate_dimensions_and_unanchored_ends(tmp_path: Path) -> None:
    path = tmp_path / "dupes.yaml"
    path.write_text(
        "name: d\nversion: 1\ndimensions:\n"
        "  - {name: a, description: x, anchors: {1: lo, 5: hi}}\n"
        "  - {name: a, description: y, anchors: {1: lo, 3: mid}}\n",
        encoding="utf-8",
    )
    with pytest.raises(DataErrors) as info:
        load_rubric(path)
    text = str(info.value)
    assert "anchor both ends of the scale (1 and 5)" in text
    broken = tmp_path / "broken.yaml"
    broken.write_text("name: [unclosed\n", encoding="utf-8")
    with pytest.raises(DataErrors, match="invalid YAML"):
        load_rubric(broken)


def test_rubric_dir_overrides_and_reports_every_file(tmp_path: Path) -> None:
    (tmp_path / "mine.yaml").write_text(
        "name: mine\nversion: 2\ndimensions:\n"
        "  - {name: brevity, description: is it short, anchors: {1: long, 5: short}}\n",
        encoding="utf-8",
    )
    assert load_rubrics(tmp_path)["mine"].version == 2
    (tmp_path / "zz.yaml").write_text("name: mine\nversion: 1\n", encoding="utf-8")
    with pytest.raises(DataErrors) as info:
        load_rubrics(tmp_path)
    assert "zz.yaml" in str(info.value) and "dimensions" in str(info.value)
