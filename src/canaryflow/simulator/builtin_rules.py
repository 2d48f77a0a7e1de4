"""Generic rules every simulator knows: exact replies, echo, ping, arithmetic, tools, a judge.

Probe-specific rules live in ``probe_rules.py`` (default priority 100). The generic rules here
run after them (priority 500) so a probe rule always wins, except the judge rule (priority 50),
which keys on the system prompt of a judge call and must not be shadowed by the judged text.
"""

from __future__ import annotations

import json
import re

from canaryflow.simulator.rules import SimAnswer, SimRequest, rule

__all__ = ["judge_score"]

_EXACT = re.compile(
    r"""(?:reply|respond|answer|say)\s+(?:with\s+)?exactly\s*(?::\s*(?P<plain>.+?)|["'](?P<q>.+?)["'])\s*$""",
    re.IGNORECASE | re.DOTALL,
)
_ECHO = re.compile(r"^\s*(?:echo|repeat after me)\s*:\s*(?P<x>.+?)\s*$", re.IGNORECASE | re.DOTALL)
_ARITH = re.compile(r"(-?\d+(?:\.\d+)?)\s*([-+*/x×])\s*(-?\d+(?:\.\d+)?)")


@rule("judge", priority=50)
def judge(req: SimRequest) -> SimAnswer | None:
    """An LLM-judge call: the system prompt asks for a score; answer ``{"score", "reasoning"}``."""
    system = req.system.lower()
    if "judge" not in system or "score" not in system:
        return None
    score, why = judge_score(req)
    reply = json.dumps({"score": score, "reasoning": why})
    alt = json.dumps({"score": score, "reasoning": f"Assessment: {why[0].lower()}{why[1:]}"})
    return SimAnswer(text=reply, alternatives=(alt,), tag="judge")


def judge_score(req: SimRequest) -> tuple[int, str]:
    """A basic deterministic verdict on a 1-5 scale from cues in the judged text."""
    text = req.prompt.lower()
    if "i'm sorry" in text or "i can't help" in text or "i cannot help" in text:
        return 1, "The response refuses to answer the request."
    if any(w in text for w in ("incorrect", "wrong answer", "hallucinat")):
        return 2, "The response contains factual errors."
    return 4, "The response is correct and helpful."


@rule("exact-reply", priority=500)
def exact_reply(req: SimRequest) -> SimAnswer | None:
    """``Reply with exactly: X`` or ``Say exactly "X"`` -> ``X``."""
    m = _EXACT.search(req.prompt)
    if not m:
        return None
    text = (m.group("plain") or m.group("q") or "").strip()
    return SimAnswer(text=text, tag="exact") if text else None


@rule("echo", priority=500)
def echo(req: SimRequest) -> SimAnswer | None:
    """``Echo: X`` / ``Repeat after me: X`` -> ``X``."""
    m = _ECHO.match(req.prompt)
    return SimAnswer(text=m.group("x"), tag="echo") if m else None


@rule("ping", priority=500)
def ping(req: SimRequest) -> SimAnswer | None:
    """``ping`` or ``say pong`` -> ``pong``."""
    p = req.prompt.strip().lower().rstrip(".!?")
    if p in ("ping", "say pong") or p.endswith("say pong"):
        return SimAnswer(text="pong", alternatives=("Pong!",), tag="ping")
    return None


@rule("tool-call", priority=500)
def tool_call(req: SimRequest) -> SimAnswer | None:
    """Call the offered tool the prompt names (``get_weather`` or ``get weather``).

    Arguments come from ``name: value`` / ``name=value`` in the prompt, else for a ``city`` or
    ``location`` parameter from the words after `` in ``.
    """
    if not req.tools:
        return None
    prompt = req.prompt
    low = prompt.lower()
    for tool in req.tools:
        name = str(tool.get("name", ""))
        if not name or (name.lower() not in low and name.replace("_", " ").lower() not in low):
            continue
        props = (tool.get("parameters") or {}).get("properties") or {}
        args: dict[str, object] = {}
        for prop, schema in props.items():
            m = re.search(rf"\b{re.escape(prop)}\s*[:=]\s*\"?([^\",;\n]+)\"?", prompt)
            value: str | None = m.group(1).strip() if m else None
            if value is None and prop in ("city", "location"):
                m = re.search(r"\bin\s+([A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)", prompt)
                value = m.group(1) if m else None
            if value is None:
                continue
            kind = (schema or {}).get("type")
            if kind == "integer" and re.fullmatch(r"-?\d+", value):
                args[prop] = int(value)
            elif kind == "number" and re.fullmatch(r"-?\d+(\.\d+)?", value):
                args[prop] = float(value)
            else:
                args[prop] = value
        return SimAnswer(tool_call={"name": name, "arguments": args}, tag="tool")
    return None


@rule("arithmetic", priority=600)
def arithmetic(req: SimRequest) -> SimAnswer | None:
    """``What is 2 + 3?`` -> ``5``."""
    m = _ARITH.search(req.prompt)
    if not m or "what is" not in req.prompt.lower():
        return None
    a, op, b = float(m.group(1)), m.group(2), float(m.group(3))
    if op == "+":
        v = a + b
    elif op == "-":
        v = a - b
    elif op in ("*", "x", "×"):
        v = a * b
    elif b != 0:
        v = a / b
    else:
        return None
    text = str(int(v)) if float(v).is_integer() else f"{v:g}"
    return SimAnswer(text=text, alternatives=(f"The answer is {text}.",), tag="arithmetic")
