"""Checks on JSON output: it parses, it matches a JSON Schema, a value at a path is right.

Models often wrap JSON in a Markdown code fence; by default one surrounding fence is accepted
(``strict: true`` refuses it), anything else around the JSON is a failure.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

import jsonschema
from pydantic import Field, field_validator

from canaryflow.checks._base import NO_EXTRAS, Check, CheckInput, register_check
from canaryflow.records import CheckResult

__all__ = [
    "JsonPathCheck",
    "JsonSchemaCheck",
    "JsonValidCheck",
    "parse_json_output",
    "parse_json_path",
    "resolve_json_path",
]

_FENCE = re.compile(r"\A```[A-Za-z0-9_-]*[ \t]*\n(?P<body>.*?)\n?```\Z", re.DOTALL)


def parse_json_output(text: str, *, strict: bool = False) -> Any:
    """Parse an output as JSON, accepting one surrounding Markdown code fence unless ``strict``.

    Raises:
        ValueError: the output is not JSON (the message says why and where).
    """
    body = text.strip()
    if not strict and (m := _FENCE.match(body)):
        body = m.group("body").strip()
    try:
        return json.loads(body)
    except json.JSONDecodeError as exc:
        raise ValueError(
            f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from None


# One step of a path: .name, [index], ['key'] or ["key"].
_STEP = re.compile(
    r"""\.(?P<name>[A-Za-z_][A-Za-z0-9_-]*)"""
    r"""|\[(?P<index>-?\d+)\]"""
    r"""|\[(?:'(?P<sq>[^']*)'|"(?P<dq>[^"]*)")\]"""
)


def parse_json_path(path: str) -> tuple[str | int, ...]:
    """Parse a simple JSON path (``$.items[0].amount``, ``$["odd key"][-1]``) into steps.

    Only member names and list indices are supported: no wildcards, filters or slices, and
    nothing is ever evaluated.

    Raises:
        ValueError: the path uses syntax outside that subset.
    """
    if not path.startswith("$"):
        raise ValueError(f"json path must start with '$': {path!r}")
    steps: list[str | int] = []
    pos = 1
    while pos < len(path):
        m = _STEP.match(path, pos)
        if m is None:
            raise ValueError(
                f"unsupported json path syntax at position {pos} of {path!r} "
                "(use .name, [index] or ['key'])"
            )
        if m.group("name") is not None:
            steps.append(m.group("name"))
        elif m.group("index") is not None:
            steps.append(int(m.group("index")))
        else:
            steps.append(m.group("sq") if m.group("sq") is not None else m.group("dq"))
        pos = m.end()
    return tuple(steps)


def resolve_json_path(data: Any, steps: tuple[str | int, ...]) -> Any:
    """Follow parsed steps into parsed JSON.

    Raises:
        LookupError: a step does not exist (the message names it).
    """
    current = data
    walked = "$"
    for step in steps:
        if isinstance(step, int):
            if not isinstance(current, list) or not -len(current) <= step < len(current):
                raise LookupError(f"{walked}[{step}] does not exist")
            current = current[step]
            walked += f"[{step}]"
        else:
            if not isinstance(current, dict) or step not in current:
                raise LookupError(f"{walked}.{step} does not exist")
            current = current[step]
            walked += f".{step}"
    return current


def json_equal(a: Any, b: Any) -> bool:
    """JSON equality: 1 == 1.0, but ``true`` is not ``1`` and ``"1"`` is not ``1``."""
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(json_equal(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(json_equal(a[k], b[k]) for k in a)
    return type(a) is type(b) and a == b


@register_check
class JsonValidCheck(Check):
    """The output is valid JSON (optionally inside one Markdown code fence)."""

    type: Literal["json_valid"] = "json_valid"
    strict: bool = False
    """Refuse a surrounding Markdown code fence."""

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Parse the output; value is the JSON type parsed."""
        try:
            data = parse_json_output(output, strict=self.strict)
        except ValueError as exc:
            return self._result(False, None, str(exc))
        return self._result(True, type(data).__name__, "output is valid JSON")


@register_check
class JsonSchemaCheck(Check):
    """The output is JSON that validates against a JSON Schema."""

    type: Literal["json_schema"] = "json_schema"
    json_schema: dict[str, Any] = Field(alias="schema")
    """The JSON Schema (any draft ``jsonschema`` knows; ``$schema`` picks it, default latest)."""
    strict: bool = False
    """Refuse a surrounding Markdown code fence."""

    model_config = Check.model_config | {"populate_by_name": True, "serialize_by_alias": True}

    @field_validator("json_schema")
    @classmethod
    def _valid_schema(cls, schema: dict[str, Any]) -> dict[str, Any]:
        validator = jsonschema.validators.validator_for(schema)
        try:
            validator.check_schema(schema)
        except jsonschema.SchemaError as exc:
            where = "/".join(str(p) for p in exc.absolute_path) or "(root)"
            raise ValueError(f"invalid JSON Schema at {where}: {exc.message}") from None
        return schema

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Parse and validate; value is the number of schema violations."""
        try:
            data = parse_json_output(output, strict=self.strict)
        except ValueError as exc:
            return self._result(False, None, str(exc))
        validator_cls = jsonschema.validators.validator_for(self.json_schema)
        errors = sorted(
            validator_cls(self.json_schema).iter_errors(data), key=lambda e: list(e.path)
        )
        if not errors:
            return self._result(True, 0, "output matches the schema")
        first = errors[0]
        where = "$" + "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first.path)
        more = f" (+{len(errors) - 1} more)" if len(errors) > 1 else ""
        return self._result(False, len(errors), f"{where}: {first.message}{more}")


@register_check
class JsonPathCheck(Check):
    """The JSON output has the expected value at a path such as ``$.items[0].amount``."""

    type: Literal["json_path"] = "json_path"
    path: str
    """Where to look: ``$`` then ``.name``, ``[index]`` or ``['key']`` steps."""
    equals: Any
    """The expected JSON value (numbers compare numerically; ``true`` is not ``1``)."""
    strict: bool = False
    """Refuse a surrounding Markdown code fence."""

    @field_validator("path")
    @classmethod
    def _parses(cls, path: str) -> str:
        parse_json_path(path)
        return path

    def run(self, output: str, extras: CheckInput = NO_EXTRAS) -> CheckResult:
        """Parse, follow the path, compare; value is what was found."""
        try:
            data = parse_json_output(output, strict=self.strict)
            found = resolve_json_path(data, parse_json_path(self.path))
        except (ValueError, LookupError) as exc:
            return self._result(False, None, str(exc))
        if json_equal(found, self.equals):
            return self._result(True, found, f"{self.path} == {self.equals!r}")
        return self._result(False, found, f"{self.path}: expected {self.equals!r}, got {found!r}")
