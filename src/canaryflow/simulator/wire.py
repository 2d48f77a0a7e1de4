"""Wire formats of the simulator: request parsing and reply rendering for both protocols.

Anthropic Messages (JSON and the SSE event sequence message_start, content_block_start,
content_block_delta..., content_block_stop, message_delta, message_stop) and OpenAI Chat
Completions (JSON and ``data:`` chunks, a usage chunk when ``stream_options.include_usage``,
then ``data: [DONE]``). Pure functions of a ``Plan``; no I/O.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from canaryflow.simulator.rules import SimRequest
from canaryflow.simulator.scenarios import Plan

__all__ = [
    "BadRequest",
    "anthropic_body",
    "anthropic_events",
    "anthropic_request",
    "as_int",
    "error_body",
    "malformed_body",
    "malformed_events",
    "openai_body",
    "openai_events",
    "openai_request",
]

_CREATED = 1_700_000_000


class BadRequest(Exception):
    """A request the simulator rejects (status 400 unless given)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


def _text_of(content: Any) -> str:
    """Flatten string-or-blocks message content to text."""
    if content is None:
        return ""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts = []
        for block in content:
            if isinstance(block, str):
                parts.append(block)
            elif isinstance(block, dict):
                if block.get("type") in ("text", "input_text") and "text" in block:
                    parts.append(str(block["text"]))
                elif block.get("type") == "tool_result":
                    parts.append(_text_of(block.get("content")))
        return "\n".join(parts)
    return str(content)


def as_int(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        raise BadRequest(f"expected an integer, got {value!r}") from None


def anthropic_request(body: dict[str, Any]) -> SimRequest:
    """Anthropic Messages request body -> SimRequest."""
    if not isinstance(body.get("messages"), list) or not body.get("model"):
        raise BadRequest("messages (a list) and model are required")
    messages = tuple(
        (str(m.get("role", "user")), _text_of(m.get("content"))) for m in body["messages"]
    )
    tools = tuple(
        {
            "name": t.get("name", ""),
            "description": t.get("description", ""),
            "parameters": t.get("input_schema") or {},
        }
        for t in body.get("tools") or ()
    )
    choice = body.get("tool_choice")
    return SimRequest(
        system=_text_of(body.get("system")),
        messages=messages,
        model=str(body["model"]),
        max_tokens=as_int(body.get("max_tokens"), 4096),
        temperature=float(body.get("temperature") or 0.0),
        tools=tools,
        tool_choice=choice.get("name") if isinstance(choice, dict) else None,
    )


def openai_request(body: dict[str, Any]) -> SimRequest:
    """OpenAI Chat Completions request body -> SimRequest."""
    if not isinstance(body.get("messages"), list) or not body.get("model"):
        raise BadRequest("messages (a list) and model are required")
    system, messages = [], []
    for m in body["messages"]:
        role = str(m.get("role", "user"))
        text = _text_of(m.get("content"))
        if role in ("system", "developer"):
            system.append(text)
        else:
            messages.append((role, text))
    tools = tuple(
        {
            "name": t.get("function", {}).get("name", ""),
            "description": t.get("function", {}).get("description", ""),
            "parameters": t.get("function", {}).get("parameters") or {},
        }
        for t in body.get("tools") or ()
    )
    choice = body.get("tool_choice")
    forced = (choice.get("function") or {}).get("name") if isinstance(choice, dict) else None
    fmt = body.get("response_format")
    return SimRequest(
        system="\n\n".join(system),
        messages=tuple(messages),
        model=str(body["model"]),
        max_tokens=as_int(body.get("max_completion_tokens", body.get("max_tokens")), 4096),
        temperature=float(body.get("temperature") or 0.0),
        tools=tools,
        tool_choice=forced,
        response_format=fmt if isinstance(fmt, dict) else None,
    )


_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_use": "tool_use"}
_ANTHROPIC_STOP["refusal"] = "refusal"
_OPENAI_FINISH = {"stop": "stop", "length": "length", "tool_use": "tool_calls", "refusal": "stop"}


def _tool_id(plan: Plan, prefix: str) -> str:
    return f"{prefix}{plan.request_id.rsplit('_', 1)[-1]}"


def anthropic_body(plan: Plan) -> dict[str, Any]:
    """The Anthropic Messages JSON for a plan."""
    content: list[dict[str, Any]] = []
    if plan.text:
        content.append({"type": "text", "text": plan.text})
    if plan.tool_call is not None:
        content.append(
            {
                "type": "tool_use",
                "id": _tool_id(plan, "toolu_sim_"),
                "name": plan.tool_call["name"],
                "input": plan.tool_call["arguments"],
            }
        )
    return {
        "id": "msg_sim_" + plan.request_id.rsplit("_", 1)[-1],
        "type": "message",
        "role": "assistant",
        "model": plan.model,
        "content": content,
        "stop_reason": _ANTHROPIC_STOP[plan.finish],
        "stop_sequence": None,
        "usage": {
            "input_tokens": plan.input_tokens,
            "output_tokens": plan.output_tokens,
            "cache_creation_input_tokens": 0,
            "cache_read_input_tokens": 0,
        },
    }


def openai_body(plan: Plan) -> dict[str, Any]:
    """The OpenAI Chat Completions JSON for a plan."""
    refusal = plan.finish == "refusal"
    message: dict[str, Any] = {
        "role": "assistant",
        "content": None if refusal else (plan.text or None),
        "refusal": plan.text if refusal else None,
    }
    if plan.tool_call is not None:
        message["tool_calls"] = [
            {
                "id": _tool_id(plan, "call_sim_"),
                "type": "function",
                "function": {
                    "name": plan.tool_call["name"],
                    "arguments": json.dumps(plan.tool_call["arguments"]),
                },
            }
        ]
    return {
        "id": "chatcmpl-sim-" + plan.request_id.rsplit("_", 1)[-1],
        "object": "chat.completion",
        "created": _CREATED,
        "model": plan.model,
        "system_fingerprint": plan.fingerprint,
        "choices": [
            {
                "index": 0,
                "message": message,
                "finish_reason": _OPENAI_FINISH[plan.finish],
                "logprobs": None,
            }
        ],
        "usage": _openai_usage(plan),
    }


def _openai_usage(plan: Plan) -> dict[str, int]:
    return {
        "prompt_tokens": plan.input_tokens,
        "completion_tokens": plan.output_tokens,
        "total_tokens": plan.input_tokens + plan.output_tokens,
    }


def _tool_pieces(plan: Plan) -> list[str]:
    raw = json.dumps(plan.tool_call["arguments"]) if plan.tool_call else ""
    step = max(1, len(raw) // 3 + 1)
    return [raw[i : i + step] for i in range(0, len(raw), step)] or [""]


def anthropic_events(plan: Plan) -> Iterator[tuple[float, str]]:
    """(delay_s, SSE frame) pairs of an Anthropic Messages stream for a plan."""

    def ev(name: str, data: dict[str, Any]) -> str:
        return f"event: {name}\ndata: {json.dumps(data)}\n\n"

    start = anthropic_body(plan)
    start.update(content=[], stop_reason=None, stop_sequence=None)
    start["usage"] = {**start["usage"], "output_tokens": 1}
    yield 0.0, ev("message_start", {"type": "message_start", "message": start})
    yield 0.0, ev("ping", {"type": "ping"})
    index = 0
    first = True
    if plan.text or plan.tool_call is None:
        block: dict[str, Any] = {"type": "text", "text": ""}
        yield (
            0.0,
            ev(
                "content_block_start",
                {"type": "content_block_start", "index": 0, "content_block": block},
            ),
        )
        for piece in plan.chunks:
            delay = plan.ttft_s if first else plan.per_token_s
            first = False
            delta = {"type": "text_delta", "text": piece}
            yield (
                delay,
                ev(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": 0, "delta": delta},
                ),
            )
        yield 0.0, ev("content_block_stop", {"type": "content_block_stop", "index": 0})
        index = 1
    if plan.tool_call is not None:
        block = {
            "type": "tool_use",
            "id": _tool_id(plan, "toolu_sim_"),
            "name": plan.tool_call["name"],
            "input": {},
        }
        yield (
            (plan.ttft_s if first else 0.0),
            ev(
                "content_block_start",
                {"type": "content_block_start", "index": index, "content_block": block},
            ),
        )
        for piece in _tool_pieces(plan):
            delta = {"type": "input_json_delta", "partial_json": piece}
            yield (
                plan.per_token_s,
                ev(
                    "content_block_delta",
                    {"type": "content_block_delta", "index": index, "delta": delta},
                ),
            )
        yield 0.0, ev("content_block_stop", {"type": "content_block_stop", "index": index})
    stop: dict[str, Any] = {"stop_reason": _ANTHROPIC_STOP[plan.finish], "stop_sequence": None}
    usage = {"output_tokens": plan.output_tokens}
    yield 0.0, ev("message_delta", {"type": "message_delta", "delta": stop, "usage": usage})
    yield 0.0, ev("message_stop", {"type": "message_stop"})


def openai_events(plan: Plan, include_usage: bool) -> Iterator[tuple[float, str]]:
    """(delay_s, SSE frame) pairs of an OpenAI Chat Completions stream for a plan."""
    base = {
        "id": "chatcmpl-sim-" + plan.request_id.rsplit("_", 1)[-1],
        "object": "chat.completion.chunk",
        "created": _CREATED,
        "model": plan.model,
        "system_fingerprint": plan.fingerprint,
    }

    def chunk(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish, "logprobs": None}
        data = {**base, "choices": [choice]}
        if include_usage:
            data["usage"] = None
        return f"data: {json.dumps(data)}\n\n"

    refusal = plan.finish == "refusal"
    yield 0.0, chunk({"role": "assistant", "content": "" if not refusal else None})
    first = True
    for piece in plan.chunks:
        delay = plan.ttft_s if first else plan.per_token_s
        first = False
        yield delay, chunk({"refusal": piece} if refusal else {"content": piece})
    if plan.tool_call is not None:
        call = {
            "index": 0,
            "id": _tool_id(plan, "call_sim_"),
            "type": "function",
            "function": {"name": plan.tool_call["name"], "arguments": ""},
        }
        yield (plan.ttft_s if first else 0.0), chunk({"tool_calls": [call]})
        for piece in _tool_pieces(plan):
            yield (
                plan.per_token_s,
                chunk({"tool_calls": [{"index": 0, "function": {"arguments": piece}}]}),
            )
    yield 0.0, chunk({}, _OPENAI_FINISH[plan.finish])
    if include_usage:
        yield 0.0, f"data: {json.dumps({**base, 'choices': [], 'usage': _openai_usage(plan)})}\n\n"
    yield 0.0, "data: [DONE]\n\n"


def malformed_body(protocol: str, plan: Plan) -> bytes:
    if plan.malformed_kind == "invalid_json":
        full = json.dumps(anthropic_body(plan) if protocol == "anthropic" else openai_body(plan))
        return full[: len(full) // 2].encode()
    if protocol == "anthropic":
        body = anthropic_body(plan)
        del body["content"], body["usage"]
    else:
        body = openai_body(plan)
        del body["usage"]
        body["choices"][0]["message"] = {"role": "assistant"}
    return json.dumps(body).encode()


def malformed_events(protocol: str, plan: Plan) -> Iterator[tuple[float, str]]:
    events = anthropic_events(plan) if protocol == "anthropic" else openai_events(plan, True)
    for i, (delay, frame) in enumerate(events):
        if i == 2:
            if plan.malformed_kind == "invalid_json":
                prefix = "event: content_block_delta\n" if protocol == "anthropic" else ""
                yield delay, prefix + 'data: {"type": "content_block_delta", "index": 0, "del\n\n'
            return  # missing_fields: the stream stops before any content or end event
        yield delay, frame


def error_body(protocol: str, status: int, error_type: str, message: str) -> dict[str, Any]:
    if protocol == "anthropic":
        return {"type": "error", "error": {"type": error_type, "message": message}}
    return {"error": {"message": message, "type": error_type, "param": None, "code": str(status)}}
