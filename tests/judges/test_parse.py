"""Strict verdict parsing: exactly one valid verdict, or an error with its reason."""

from __future__ import annotations

import json

import pytest

from canaryflow.judges import VerdictError, parse_preference, parse_verdict, shipped_rubric
from canaryflow.records import Completion, ToolCall

Q = shipped_rubric("quality")
GOOD = {"reasoning": "fine", "scores": {"correctness": 5, "completeness": 4, "tone": 5}}


def text(body: str, finish: str = "stop") -> Completion:
    return Completion(text=body, finish_reason=finish)  # type: ignore[arg-type]


def test_accepts_one_object_in_prose_or_a_forced_tool() -> None:
    assert parse_verdict(Q, text(json.dumps(GOOD))).values["completeness"] == 4
    prose = f"Sure.\n```json\n{json.dumps(GOOD)}\n```\nThat is all {{not json}}."
    assert parse_verdict(Q, text(prose)).reasoning == "fine"
    tool = Completion(
        finish_reason="tool_use", tool_calls=(ToolCall(name="submit_verdict", arguments=GOOD),)
    )
    assert parse_verdict(Q, tool).values == GOOD["scores"]


def _bad(scores: dict, **extra) -> Completion:
    return text(json.dumps({"reasoning": "r", "scores": scores, **extra}))


@pytest.mark.parametrize(
    ("completion", "kind", "fragment"),
    [
        (text("I'd say 4/5."), "malformed", "no JSON object"),
        (text(json.dumps(GOOD) + json.dumps(GOOD)), "malformed", "2 JSON objects"),
        (text(json.dumps(GOOD)[:40], finish="length"), "truncated", "max_tokens"),
        (text(json.dumps(GOOD)[:40]), "malformed", "no JSON object"),
        (_bad({"correctness": 6, "completeness": 4, "tone": 5}), "out_of_range", "correctness"),
        (_bad({"correctness": 0, "completeness": 4, "tone": 5}), "out_of_range", "got 0"),
        (_bad({"correctness": 5, "completeness": 4}), "missing_dimension", "scores.tone"),
        (_bad({"correctness": 4.5, "completeness": 4, "tone": 5}), "invalid", "4.5"),
        (_bad({"correctness": "5", "completeness": 4, "tone": 5}), "invalid", "'5'"),
        (_bad({"correctness": True, "completeness": 4, "tone": 5}), "invalid", "True"),
        (_bad({**GOOD["scores"], "helpfulness": 5}), "unknown_field", "helpfulness"),
        (_bad(GOOD["scores"], verdict="pass"), "unknown_field", "verdict"),
        (text(json.dumps({"scores": GOOD["scores"]})), "missing_dimension", "reasoning"),
        (text("", finish="refusal"), "refusal", "refused"),
        (
            Completion(finish_reason="error", error="APIStatusError: 500", error_kind="server"),
            "server",
            "500",
        ),
        (
            Completion(finish_reason="tool_use", tool_calls=(ToolCall(name="other"),)),
            "malformed",
            "expected 'submit_verdict'",
        ),
    ],
)
def test_everything_else_is_an_error(completion: Completion, kind: str, fragment: str) -> None:
    with pytest.raises(VerdictError) as info:
        parse_verdict(Q, completion)
    assert info.value.kind == kind
    assert fragment in info.value.reason


def test_preferences() -> None:
    good = {
        "reasoning": "r",
        "preferences": {"correctness": "A", "completeness": "tie", "tone": "B"},
    }
    assert parse_preference(Q, text(json.dumps(good))).values["tone"] == "B"
    bad = {"reasoning": "r", "preferences": {"correctness": "C", "completeness": "A", "tone": "A"}}
    with pytest.raises(VerdictError, match="preferences.correctness"):
        parse_preference(Q, text(json.dumps(bad)))
