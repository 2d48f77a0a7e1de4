"""The simulator's HTTP server: Anthropic Messages, OpenAI Chat Completions, embeddings, admin.

Routes (``/v1`` prefix optional)::

    POST /v1/messages            Anthropic Messages (plain JSON or SSE when "stream": true)
    POST /v1/chat/completions    OpenAI Chat Completions (plain or SSE, usage chunk on request)
    POST /v1/embeddings          deterministic hashing embeddings (float or base64)
    GET  /health                 {"status": "ok"}
    POST /admin/scenario         {"name": ..., **params} switches the scenario
    POST /admin/reset            clears counters and occurrence indices
    GET  /admin/state            scenario, params, seed, noise, request counters

Any ``x-api-key`` or ``Authorization: Bearer`` value is accepted; a request with neither gets 401.

Usage::

    with SimulatorServer(SimulatorConfig(seed=1)) as sim:
        client = anthropic.Anthropic(api_key="k", base_url=sim.url)
"""

from __future__ import annotations

import base64
import importlib
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from canaryflow.config import SimulatorConfig
from canaryflow.simulator import builtin_rules  # noqa: F401  (registers the generic rules)
from canaryflow.simulator.embeddings import hash_embed
from canaryflow.simulator.rules import SimRequest
from canaryflow.simulator.scenarios import Plan, ScenarioError, SimulatorCore, count_tokens

__all__ = ["SimulatorServer", "load_probe_rules", "serve_forever"]

_PROBE_RULES = "canaryflow.simulator.probe_rules"
_CREATED = 1_700_000_000


def load_probe_rules() -> bool:
    """Import the probe-specific rule module if it exists; True when it was loaded."""
    try:
        importlib.import_module(_PROBE_RULES)
    except ModuleNotFoundError as exc:
        if exc.name != _PROBE_RULES:
            raise
        return False
    return True


class _BadRequest(Exception):
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


def _int(value: Any, default: int) -> int:
    try:
        return int(value) if value is not None else default
    except (TypeError, ValueError):
        raise _BadRequest(f"expected an integer, got {value!r}") from None


def anthropic_request(body: dict[str, Any]) -> SimRequest:
    """Anthropic Messages request body -> SimRequest."""
    if not isinstance(body.get("messages"), list) or not body.get("model"):
        raise _BadRequest("messages (a list) and model are required")
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
    return SimRequest(
        system=_text_of(body.get("system")),
        messages=messages,
        model=str(body["model"]),
        max_tokens=_int(body.get("max_tokens"), 4096),
        temperature=float(body.get("temperature") or 0.0),
        tools=tools,
    )


def openai_request(body: dict[str, Any]) -> SimRequest:
    """OpenAI Chat Completions request body -> SimRequest."""
    if not isinstance(body.get("messages"), list) or not body.get("model"):
        raise _BadRequest("messages (a list) and model are required")
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
    return SimRequest(
        system="\n\n".join(system),
        messages=tuple(messages),
        model=str(body["model"]),
        max_tokens=_int(body.get("max_completion_tokens", body.get("max_tokens")), 4096),
        temperature=float(body.get("temperature") or 0.0),
        tools=tools,
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
        block = {"type": "text", "text": ""}
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
    delta = {"stop_reason": _ANTHROPIC_STOP[plan.finish], "stop_sequence": None}
    usage = {"output_tokens": plan.output_tokens}
    yield 0.0, ev("message_delta", {"type": "message_delta", "delta": delta, "usage": usage})
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


def _malformed_body(protocol: str, plan: Plan) -> bytes:
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


def _malformed_events(protocol: str, plan: Plan) -> Iterator[tuple[float, str]]:
    events = anthropic_events(plan) if protocol == "anthropic" else openai_events(plan, True)
    for i, (delay, frame) in enumerate(events):
        if i == 2:
            if plan.malformed_kind == "invalid_json":
                prefix = "event: content_block_delta\n" if protocol == "anthropic" else ""
                yield delay, prefix + 'data: {"type": "content_block_delta", "index": 0, "del\n\n'
            return  # missing_fields: the stream stops before any content or end event
        yield delay, frame


def _error_body(protocol: str, status: int, error_type: str, message: str) -> dict[str, Any]:
    if protocol == "anthropic":
        return {"type": "error", "error": {"type": error_type, "message": message}}
    return {"error": {"message": message, "type": error_type, "param": None, "code": str(status)}}


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the simulator does not log requests."""

    def handle(self) -> None:
        try:
            super().handle()
        except (BrokenPipeError, ConnectionResetError, TimeoutError):
            pass

    # -- plumbing ----------------------------------------------------------------------------

    def _send_json(self, status: int, data: Any, headers: dict[str, str] | None = None) -> None:
        self._send_bytes(status, json.dumps(data).encode(), headers)

    def _send_bytes(
        self, status: int, payload: bytes, headers: dict[str, str] | None = None
    ) -> None:
        self.send_response(status)
        self.send_header("content-type", "application/json")
        self.send_header("content-length", str(len(payload)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        self.wfile.write(payload)

    def _send_sse(self, frames: Iterator[tuple[float, str]], headers: dict[str, str]) -> None:
        self.send_response(200)
        self.send_header("content-type", "text/event-stream")
        self.send_header("cache-control", "no-cache")
        self.send_header("connection", "close")
        for k, v in headers.items():
            self.send_header(k, v)
        self.end_headers()
        self.close_connection = True
        stop = self.server.stop_event
        for delay, frame in frames:
            if delay > 0 and stop.wait(delay):
                return
            self.wfile.write(frame.encode())
            self.wfile.flush()

    def _body(self) -> dict[str, Any]:
        length = int(self.headers.get("content-length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            data = json.loads(raw or b"{}")
        except json.JSONDecodeError:
            raise _BadRequest("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise _BadRequest("request body must be a JSON object")
        return data

    def _authorized(self) -> bool:
        auth = self.headers.get("authorization", "")
        return bool(self.headers.get("x-api-key")) or auth.lower().startswith("bearer ")

    @staticmethod
    def _route(path: str) -> str:
        path = path.split("?", 1)[0].rstrip("/")
        return path[3:] if path.startswith("/v1/") else path

    # -- GET / POST --------------------------------------------------------------------------

    def do_GET(self) -> None:  # noqa: N802
        route = self._route(self.path)
        if route == "/health":
            self._send_json(200, {"status": "ok"})
        elif route == "/admin/state":
            self._send_json(200, self.server.core.state())
        else:
            self._send_json(404, {"error": {"message": f"no route GET {self.path}"}})

    def do_POST(self) -> None:  # noqa: N802
        route = self._route(self.path)
        protocol = "anthropic" if route == "/messages" else "openai"
        core = self.server.core
        try:
            body = self._body()
            if route == "/admin/scenario":
                params = dict(body)
                name = params.pop("name", None)
                if not isinstance(name, str):
                    raise _BadRequest('expected {"name": <scenario>, ...params}')
                try:
                    core.set_scenario(name, **params)
                except ScenarioError as exc:
                    raise _BadRequest(str(exc)) from None
                self._send_json(200, core.state())
                return
            if route == "/admin/reset":
                core.reset()
                self._send_json(200, core.state())
                return
            if route not in ("/messages", "/chat/completions", "/embeddings"):
                raise _BadRequest(f"no route POST {self.path}", 404)
            if not self._authorized():
                raise _BadRequest("missing API key (x-api-key or Authorization: Bearer)", 401)
            core.count("path:" + route)
            retry_count = self.headers.get("x-stainless-retry-count")
            if retry_count not in (None, "0"):
                core.count("sdk_retries")
            if route == "/embeddings":
                self._embeddings(body)
            else:
                self._chat(protocol, body)
        except _BadRequest as exc:
            kind = {401: "authentication_error", 404: "not_found_error"}.get(
                exc.status, "invalid_request_error"
            )
            self._send_json(exc.status, _error_body(protocol, exc.status, kind, str(exc)))

    def _chat(self, protocol: str, body: dict[str, Any]) -> None:
        core = self.server.core
        req = anthropic_request(body) if protocol == "anthropic" else openai_request(body)
        plan = core.plan(req)
        id_header = "request-id" if protocol == "anthropic" else "x-request-id"
        headers = {id_header: plan.request_id, **plan.headers}
        if plan.outcome == "http_error":
            message = f"simulated {plan.status} ({plan.error_type})"
            self._send_json(
                plan.status, _error_body(protocol, plan.status, plan.error_type, message), headers
            )
            return
        if plan.outcome == "timeout" and self.server.stop_event.wait(plan.sleep_s):
            self.close_connection = True  # stopping: drop the stalled request
            return
        stream = bool(body.get("stream"))
        if stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            if plan.outcome == "malformed":
                frames = _malformed_events(protocol, plan)
            elif protocol == "anthropic":
                frames = anthropic_events(plan)
            else:
                frames = openai_events(plan, include_usage)
            self._send_sse(frames, headers)
            return
        delay = plan.ttft_s + plan.per_token_s * max(0, plan.output_tokens - 1)
        if delay > 0 and self.server.stop_event.wait(delay):
            self.close_connection = True
            return
        if plan.outcome == "malformed":
            self._send_bytes(200, _malformed_body(protocol, plan), headers)
        elif protocol == "anthropic":
            self._send_json(200, anthropic_body(plan), headers)
        else:
            self._send_json(200, openai_body(plan), headers)

    def _embeddings(self, body: dict[str, Any]) -> None:
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts) or not texts:
            raise _BadRequest("input must be a string or a non-empty list of strings")
        dim = _int(body.get("dimensions"), self.server.embedding_dim)
        if dim < 1:
            raise _BadRequest("dimensions must be >= 1")
        vectors = hash_embed(texts, dim=dim, seed=self.server.core.seed)
        as_b64 = body.get("encoding_format") == "base64"
        data = [
            {
                "object": "embedding",
                "index": i,
                "embedding": (
                    base64.b64encode(v.astype("<f4").tobytes()).decode() if as_b64 else v.tolist()
                ),
            }
            for i, v in enumerate(vectors)
        ]
        tokens = sum(count_tokens(t) for t in texts)
        self._send_json(
            200,
            {
                "object": "list",
                "data": data,
                "model": str(body.get("model") or "sim-embed"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
            },
        )


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    core: SimulatorCore
    stop_event: threading.Event
    embedding_dim: int


class SimulatorServer:
    """The simulator as an in-process server on a background daemon thread.

    Args:
        config: seed, initial scenario, noise, host and port (0 picks a free port).
        params: parameters of the initial scenario (see ``scenarios.SCENARIOS``).
        base_ttft_ms: baseline time to first token.
        base_per_token_ms: baseline time per output token.
        embedding_dim: default dimension of ``/v1/embeddings`` vectors.
    """

    def __init__(
        self,
        config: SimulatorConfig | None = None,
        *,
        params: dict[str, Any] | None = None,
        base_ttft_ms: float = 2.0,
        base_per_token_ms: float = 0.2,
        embedding_dim: int = 384,
    ) -> None:
        self.config = config or SimulatorConfig()
        load_probe_rules()
        self.core = SimulatorCore(
            seed=self.config.seed,
            noise=self.config.noise,
            scenario=self.config.scenario,
            params=params,
            base_ttft_ms=base_ttft_ms,
            base_per_token_ms=base_per_token_ms,
        )
        self.embedding_dim = embedding_dim
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None
        self.url = ""

    def start(self) -> str:
        """Start serving (idempotent) and return the base URL, e.g. ``http://127.0.0.1:53124``."""
        if self._httpd is not None:
            return self.url
        httpd = _Server((self.config.host, self.config.port), _Handler)
        httpd.core = self.core
        httpd.stop_event = threading.Event()
        httpd.embedding_dim = self.embedding_dim
        host, port = httpd.server_address[:2]
        self.url = f"http://{host}:{port}"
        self._thread = threading.Thread(
            target=httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            daemon=True,
            name=f"canaryflow-simulator-{port}",
        )
        self._httpd = httpd
        self._thread.start()
        return self.url

    @property
    def openai_url(self) -> str:
        """The base URL the openai SDK expects (with ``/v1``)."""
        return self.url + "/v1"

    def stop(self) -> None:
        """Stop serving and release the port; stalled handlers are woken and dropped."""
        httpd, self._httpd = self._httpd, None
        if httpd is None:
            return
        httpd.stop_event.set()
        httpd.shutdown()
        httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    def set_scenario(self, name: str, **params: Any) -> None:
        """Switch scenario in-process (same as ``POST /admin/scenario``)."""
        self.core.set_scenario(name, **params)

    def state(self) -> dict[str, Any]:
        """The same snapshot as ``GET /admin/state``."""
        return self.core.state()

    def __enter__(self) -> SimulatorServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def serve_forever(
    host: str = "127.0.0.1",
    port: int = 8765,
    scenario: str = "baseline",
    seed: int = 0,
    noise: float = 0.02,
    **params: Any,
) -> None:
    """Run the simulator in the foreground: print its URL, block until Ctrl-C."""
    cfg = SimulatorConfig(host=host, port=port, scenario=scenario, seed=seed, noise=noise)
    server = SimulatorServer(cfg, params=params)
    url = server.start()
    print(f"canaryflow simulator listening on {url} (scenario {scenario!r}, seed {seed})")
    print(f"  anthropic base_url: {url}    openai base_url: {url}/v1")
    print("  press Ctrl-C to stop")
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
