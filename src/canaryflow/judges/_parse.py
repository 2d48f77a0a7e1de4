"""Strict reading of a judge's reply: one verdict with every dimension on its scale, or an error.

There is no default score anywhere here. A reply that is truncated, not JSON, ambiguous (two
JSON objects in the text), missing a dimension, off the scale, or of the wrong type is a
``VerdictError`` carrying the reason; the caller records it as a judge error.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, ValidationError, create_model

from canaryflow.judges._prompt import PAIRWISE_TOOL, VERDICT_TOOL
from canaryflow.judges._rubric import Rubric
from canaryflow.records import Completion

__all__ = ["Verdict", "VerdictError", "json_objects", "parse_preference", "parse_verdict"]


class VerdictError(ValueError):
    """The judge's reply is not a valid verdict; ``kind`` names the failure class."""

    def __init__(self, kind: str, reason: str) -> None:
        super().__init__(reason)
        self.kind = kind
        self.reason = reason


class Verdict(BaseModel):
    """A validated reply: the judge's reasoning and its per-dimension values."""

    model_config = ConfigDict(frozen=True)

    reasoning: str
    values: dict[str, Any]
    """Scores (int) for a verdict, ``"A"``/``"B"``/``"tie"`` for a preference."""


def json_objects(text: str) -> list[Any]:
    """Every top-level JSON object in ``text`` (prose, code fences and all around them)."""
    decoder = json.JSONDecoder()
    found: list[Any] = []
    i = text.find("{")
    while i != -1:
        try:
            obj, end = decoder.raw_decode(text, i)
        except json.JSONDecodeError:
            i = text.find("{", i + 1)
            continue
        found.append(obj)
        i = text.find("{", end)
    return found


_MODELS: dict[tuple[str, str, bool], type[BaseModel]] = {}
"""Reply models per rubric content: building a pydantic model costs ~5 ms, validating ~20 us."""


def _model(rubric: Rubric, pairwise: bool) -> type[BaseModel]:
    key = (rubric.name, rubric.content_hash(), pairwise)
    if key not in _MODELS:
        _MODELS[key] = _build_model(rubric, pairwise)
    return _MODELS[key]


def _build_model(rubric: Rubric, pairwise: bool) -> type[BaseModel]:
    inner: dict[str, Any] = {}
    for d in rubric.dimensions:
        if pairwise:
            inner[d.name] = (Literal["A", "B", "tie"], ...)
        else:
            inner[d.name] = (StrictInt, Field(ge=d.scale.min, le=d.scale.max))
    forbid = ConfigDict(extra="forbid")
    values = create_model("Values", __config__=forbid, **inner)
    key = "preferences" if pairwise else "scores"
    outer: dict[str, Any] = {"reasoning": (str, ...), key: (values, ...)}
    return create_model("Reply", __config__=forbid, **outer)


def _payload(completion: Completion, tool: str) -> Any:
    if not completion.ok:
        raise VerdictError(completion.error_kind or "provider", completion.error or "call failed")
    if completion.finish_reason == "length":
        raise VerdictError("truncated", "reply cut off at max_tokens (finish reason length)")
    if completion.finish_reason == "refusal":
        raise VerdictError("refusal", "the judge refused to give a verdict")
    forced = completion.tool_input(tool)
    if forced is not None:
        return forced
    if completion.tool_calls:
        names = sorted({c.name for c in completion.tool_calls})
        raise VerdictError("malformed", f"called tool(s) {names}, expected {tool!r}")
    objects = [o for o in json_objects(completion.text) if isinstance(o, dict)]
    if not objects:
        snippet = completion.text.strip().replace("\n", " ")[:80]
        raise VerdictError("malformed", f"no JSON object in the reply: {snippet!r}")
    if len(objects) > 1:
        raise VerdictError("malformed", f"{len(objects)} JSON objects in the reply, expected one")
    return objects[0]


def _validate(rubric: Rubric, data: Any, pairwise: bool) -> Verdict:
    try:
        reply = _model(rubric, pairwise).model_validate(data)
    except ValidationError as exc:
        err = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in err["loc"])
        kind = {
            "missing": "missing_dimension",
            "less_than_equal": "out_of_range",
            "greater_than_equal": "out_of_range",
            "extra_forbidden": "unknown_field",
        }.get(err["type"], "invalid")
        got = f", got {err['input']!r}" if err["type"] != "missing" else ""
        more = f" (+{exc.error_count() - 1} more)" if exc.error_count() > 1 else ""
        raise VerdictError(kind, f"{where}: {err['msg']}{got}{more}") from None
    dumped = reply.model_dump()
    key = "preferences" if pairwise else "scores"
    return Verdict(reasoning=dumped["reasoning"], values=dumped[key])


def parse_verdict(rubric: Rubric, completion: Completion) -> Verdict:
    """The validated verdict in a judge reply (forced tool input, or one JSON object in text).

    Raises:
        VerdictError: anything else, with the reason.
    """
    return _validate(rubric, _payload(completion, VERDICT_TOOL), pairwise=False)


def parse_preference(rubric: Rubric, completion: Completion) -> Verdict:
    """The validated A/B/tie preference in a pairwise reply.

    Raises:
        VerdictError: anything else, with the reason.
    """
    return _validate(rubric, _payload(completion, PAIRWISE_TOOL), pairwise=True)
