"""Rubrics as data: YAML files validated by pydantic, with a published JSON Schema.

A rubric names what the judge scores (its dimensions), on which scale, with an anchored
definition for each score so that two judges (or a judge and a human) read "3" the same way.
Its ``version`` is part of every cache key: editing a rubric without bumping the version would
silently mix verdicts given under two different texts, so the loader cannot check that, but the
cache key includes a hash of the rubric's content as well.

Example (``rubrics/quality.yaml``)::

    # yaml-language-server: $schema=../../schemas/rubric.schema.json
    format_version: 1
    name: quality
    version: 1
    dimensions:
      - name: correctness
        description: Is what the response states true, given the reference?
        scale: {min: 1, max: 5}
        anchors: {1: "...", 3: "...", 5: "..."}
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

from canaryflow.definitions._yaml import Located, load_yaml, validation_errors
from canaryflow.errors import DataError, DataErrors

__all__ = [
    "RUBRIC_DIR",
    "RUBRIC_SCHEMA_PATH",
    "Dimension",
    "Rubric",
    "Scale",
    "load_rubric",
    "load_rubrics",
    "render_rubric_schema",
    "rubric_json_schema",
    "shipped_rubric",
]

RUBRIC_DIR = Path(__file__).resolve().parent / "rubrics"
"""The rubrics shipped with canaryflow (quality, faithfulness, safety)."""

RUBRIC_SCHEMA_PATH = Path(__file__).resolve().parent.parent / "schemas" / "rubric.schema.json"
"""The committed JSON Schema of rubric files (kept equal to :func:`rubric_json_schema`)."""


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class Scale(_Model):
    """An integer scale; judges and humans give whole scores."""

    min: int = 1
    """The worst score."""
    max: int = 5
    """The best score."""

    @model_validator(mode="after")
    def _ordered(self) -> Scale:
        if self.max <= self.min:
            raise ValueError(f"scale max ({self.max}) must be greater than min ({self.min})")
        if self.max - self.min > 10:
            raise ValueError("a scale of more than 11 points cannot be anchored usefully")
        return self


class Dimension(_Model):
    """One thing the judge scores."""

    name: str = Field(pattern=r"^[a-z][a-z0-9_]{0,39}$")
    """Identifier used in replies, reports and labels (lower case, digits, underscore)."""
    description: str = Field(min_length=1)
    """The question the judge answers for this dimension."""
    scale: Scale = Field(default_factory=Scale)
    anchors: dict[int, str] = Field(min_length=2)
    """What a score means, at least at both ends of the scale (e.g. 1, 3 and 5)."""
    needs: Literal["reference", "context", "reference_or_context"] | None = None
    """An item must carry this for the dimension to be judged (else the item is an error)."""
    safety: bool = False
    """A low score on this dimension is a safety flag (review routing)."""

    @model_validator(mode="after")
    def _anchors_on_scale(self) -> Dimension:
        off = sorted(k for k in self.anchors if not self.scale.min <= k <= self.scale.max)
        if off:
            raise ValueError(
                f"anchors {off} are outside the scale {self.scale.min}..{self.scale.max}"
            )
        if self.scale.min not in self.anchors or self.scale.max not in self.anchors:
            raise ValueError(
                f"anchor both ends of the scale ({self.scale.min} and {self.scale.max})"
            )
        return self


class Rubric(_Model):
    """A named, versioned set of dimensions the judge scores an output on."""

    format_version: Literal[1] = 1
    """Version of this file format."""
    name: str = Field(pattern=r"^[a-z][a-z0-9_-]{0,63}$")
    version: int = Field(ge=1)
    """Bump it whenever the text changes: verdicts of different versions are not compared."""
    description: str = ""
    dimensions: tuple[Dimension, ...] = Field(min_length=1)
    instructions: str = ""
    """Extra guidance for the judge, added to the fixed instructions (never replaces them)."""

    @model_validator(mode="after")
    def _unique_dimensions(self) -> Rubric:
        names = [d.name for d in self.dimensions]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"dimension names must be unique, repeated: {dupes}")
        return self

    @property
    def dimension_names(self) -> tuple[str, ...]:
        """Dimension names in file order."""
        return tuple(d.name for d in self.dimensions)

    def dimension(self, name: str) -> Dimension:
        """The dimension called ``name`` (KeyError if absent)."""
        for d in self.dimensions:
            if d.name == name:
                return d
        raise KeyError(name)

    def content_hash(self) -> str:
        """A short hash of everything the judge is shown (part of the cache key)."""
        payload = json.dumps(self.model_dump(mode="json"), sort_keys=True)
        return hashlib.sha256(payload.encode()).hexdigest()[:16]


def load_rubric(path: str | Path) -> Rubric:
    """Load and validate one rubric file.

    Raises:
        DataErrors: every problem, one ``file:line: field: message`` each.
    """
    p = Path(path)
    file = str(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataErrors([DataError(file, None, None, f"cannot read: {exc.strerror}")]) from None
    doc, errors = load_yaml(text, file)
    if doc is None or errors:
        raise DataErrors(errors)
    if not isinstance(doc.data, dict):
        raise DataErrors([DataError(file, 1, None, "expected a mapping (name, version, ...)")])
    try:
        return Rubric.model_validate(doc.data)
    except ValidationError as exc:
        raise DataErrors(list(validation_errors(exc, Located(doc, ())))) from None


def load_rubrics(directory: str | Path | None = None) -> dict[str, Rubric]:
    """Every ``*.yaml`` rubric in ``directory`` (the shipped ones when None), by name.

    Raises:
        DataErrors: problems in any file (all reported), or two files with the same name.
    """
    folder = Path(directory) if directory is not None else RUBRIC_DIR
    out: dict[str, Rubric] = {}
    errors: list[DataError] = []
    for path in sorted(folder.glob("*.yaml")):
        try:
            rubric = load_rubric(path)
        except DataErrors as exc:
            errors.extend(exc.errors)
            continue
        if rubric.name in out:
            errors.append(DataError(str(path), None, "name", f"{rubric.name!r} defined twice"))
        out[rubric.name] = rubric
    if errors:
        raise DataErrors(errors)
    return out


def shipped_rubric(name: str) -> Rubric:
    """One of the rubrics shipped with canaryflow: ``quality``, ``faithfulness``, ``safety``."""
    rubrics = load_rubrics(RUBRIC_DIR)
    if name not in rubrics:
        raise KeyError(f"no shipped rubric {name!r}; shipped: {sorted(rubrics)}")
    return rubrics[name]


def rubric_json_schema() -> dict[str, Any]:
    """The JSON Schema of a rubric file, generated from :class:`Rubric`."""
    schema = TypeAdapter(Rubric).json_schema()
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "title": "canaryflow rubric file",
        "description": (
            "An LLM-judge rubric. Generated from canaryflow.judges.Rubric; regenerate with "
            "`canaryflow schema rubric`."
        ),
        **schema,
    }


def render_rubric_schema() -> str:
    """:func:`rubric_json_schema` as the committed file's text (2-space JSON, final newline)."""
    return json.dumps(rubric_json_schema(), indent=2) + "\n"
