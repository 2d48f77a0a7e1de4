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
import dataclasses
import importlib
import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from canaryflow.config import SimulatorConfig
from canaryflow.simulator import (
    builtin_rules,  # noqa: F401  (registers the generic rules)
    judge_rules,  # noqa: F401  (registers the rubric judge)
)
from canaryflow.simulator.embeddings import hash_embed
from canaryflow.simulator.scenarios import ScenarioError, SimulatorCore, count_tokens
from canaryflow.simulator.wire import (
    BadRequest,
    anthropic_body,
    anthropic_events,
    anthropic_request,
    as_int,
    error_body,
    malformed_body,
    malformed_events,
    openai_body,
    openai_events,
    openai_request,
)

__all__ = ["RUN_HEADER", "SimulatorServer", "load_probe_rules", "serve_forever"]

RUN_HEADER = "x-canaryflow-run"
"""Request header naming the canary run (hour) a request belongs to (per-run scenarios)."""

_PROBE_RULES = "canaryflow.simulator.probe_rules"
_GOLDEN_RULES = "canaryflow.simulator.golden_rules"


def load_probe_rules() -> bool:
    """Import the probe- and golden-set rule modules if they exist; True when all loaded."""
    loaded = True
    for module in (_PROBE_RULES, _GOLDEN_RULES):
        try:
            importlib.import_module(module)
        except ModuleNotFoundError as exc:
            if exc.name != module:
                raise
            loaded = False
    return loaded


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
        """Quiet: the simulator does not log requests."""

    def setup(self) -> None:
        super().setup()
        # Headers and body go out in separate writes; without TCP_NODELAY, Nagle's algorithm
        # and the client's delayed ACK add ~40 ms to every keep-alive response.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

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
            raise BadRequest("request body is not valid JSON") from None
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object")
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
                    raise BadRequest('expected {"name": <scenario>, ...params}')
                try:
                    core.set_scenario(name, **params)
                except ScenarioError as exc:
                    raise BadRequest(str(exc)) from None
                self._send_json(200, core.state())
                return
            if route == "/admin/reset":
                core.reset()
                self._send_json(200, core.state())
                return
            if route not in ("/messages", "/chat/completions", "/embeddings"):
                raise BadRequest(f"no route POST {self.path}", 404)
            if not self._authorized():
                raise BadRequest("missing API key (x-api-key or Authorization: Bearer)", 401)
            core.count("path:" + route)
            retry_count = self.headers.get("x-stainless-retry-count")
            if retry_count not in (None, "0"):
                core.count("sdk_retries")
            if route == "/embeddings":
                self._embeddings(body)
            else:
                self._chat(protocol, body)
        except BadRequest as exc:
            kind = {401: "authentication_error", 404: "not_found_error"}.get(
                exc.status, "invalid_request_error"
            )
            self._send_json(exc.status, error_body(protocol, exc.status, kind, str(exc)))

    def _chat(self, protocol: str, body: dict[str, Any]) -> None:
        core = self.server.core
        req = anthropic_request(body) if protocol == "anthropic" else openai_request(body)
        run = self.headers.get(RUN_HEADER)
        if run:  # per-run scenarios (flaky_probes) key on the client's run, else the hour
            req = dataclasses.replace(req, run=run)
        plan = core.plan(req)
        id_header = "request-id" if protocol == "anthropic" else "x-request-id"
        headers = {id_header: plan.request_id, **plan.headers}
        if plan.outcome == "http_error":
            message = f"simulated {plan.status} ({plan.error_type})"
            self._send_json(
                plan.status, error_body(protocol, plan.status, plan.error_type, message), headers
            )
            return
        if plan.outcome == "timeout" and self.server.stop_event.wait(plan.sleep_s):
            self.close_connection = True  # stopping: drop the stalled request
            return
        stream = bool(body.get("stream"))
        if stream:
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            if plan.outcome == "malformed":
                frames = malformed_events(protocol, plan)
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
            self._send_bytes(200, malformed_body(protocol, plan), headers)
        elif protocol == "anthropic":
            self._send_json(200, anthropic_body(plan), headers)
        else:
            self._send_json(200, openai_body(plan), headers)

    def _embeddings(self, body: dict[str, Any]) -> None:
        raw = body.get("input")
        texts = [raw] if isinstance(raw, str) else raw
        if not isinstance(texts, list) or not all(isinstance(t, str) for t in texts) or not texts:
            raise BadRequest("input must be a string or a non-empty list of strings")
        dim = as_int(body.get("dimensions"), self.server.embedding_dim)
        if dim < 1:
            raise BadRequest("dimensions must be >= 1")
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
        assert isinstance(host, str)  # an AF_INET address; only AF_UNIX gives bytes
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
