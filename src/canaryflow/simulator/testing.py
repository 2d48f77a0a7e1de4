"""Helpers for tests, benchmarks and demos that drive the simulator (no pytest dependency).

Besides one-line requests (:func:`ask`, :func:`run`), this is the simulator *without HTTP*:
:func:`sim_client_factory` gives a ``Workspace(client_factory=...)`` whose replies come from a
:class:`SimulatorCore` in the same process. Long in-control runs (days of hourly canaries) would
spend most of their time in HTTP round trips; the core applies the same rule table, seed,
natural noise and scenario logic as ``SimulatorServer`` (their parity is tested), so outputs
vary across runs exactly as the real simulator's do. Per-run scenarios (``flaky_probes``) see
the run through the request's ``metadata["run"]``, which the canary's probing sets to the run's
hour, as the HTTP simulator sees it through the ``x-canaryflow-run`` header.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

from canaryflow.config import ModelConfig
from canaryflow.errors import ProviderError
from canaryflow.providers.fake import FakeClient
from canaryflow.records import Completion, CompletionRequest, Message, ToolCall
from canaryflow.simulator.rules import SimRequest
from canaryflow.simulator.scenarios import SimulatorCore, draw
from canaryflow.simulator.server import load_probe_rules

__all__ = ["ask", "core_reply", "run", "sim_client_factory", "to_sim_request"]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion on a fresh event loop."""
    return asyncio.run(coro)


def ask(prompt: str, *, system: str = "", **kw: Any) -> CompletionRequest:
    """A one-turn request (optional system prompt); ``kw`` sets other request fields."""
    messages = [Message(role="user", content=prompt)]
    if system:
        messages.insert(0, Message(role="system", content=system))
    return CompletionRequest(messages=tuple(messages), **kw)


def to_sim_request(request: CompletionRequest, model: str) -> SimRequest:
    """A CompletionRequest as the simulator's rules see it (what the wire adapters build)."""
    return SimRequest(
        system=request.system,
        messages=tuple((m.role, m.content) for m in request.messages if m.role != "system"),
        model=model,
        max_tokens=request.max_tokens,
        temperature=request.temperature,
        tools=tuple(
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in request.tools
        ),
        run=request.metadata.get("run", ""),
    )


def core_reply(
    core: SimulatorCore, request: CompletionRequest, model: str, *, protocol: str = "anthropic"
) -> Completion:
    """One reply planned by ``core``; injected HTTP failures become ``ProviderError``s.

    ``system_fingerprint`` is set only for the openai protocol, as the real SDKs report it.
    """
    load_probe_rules()  # the probe-specific rules, as the server loads them (idempotent)
    plan = core.plan(to_sim_request(request, model))
    if plan.outcome == "http_error":
        raise ProviderError(
            f"simulated {plan.status} ({plan.error_type})",
            status_code=plan.status,
            headers=plan.headers,
        )
    if plan.outcome != "ok":  # timeouts / malformed bodies are the HTTP tests' business
        raise ProviderError(f"simulated {plan.outcome}", status_code=500)
    jitter = 0.9 + 0.2 * draw(core.seed, "latency", plan.request_id)
    latency_ms = 1000 * (plan.ttft_s + plan.per_token_s * max(0, plan.output_tokens - 1)) * jitter
    calls: tuple[ToolCall, ...] = ()
    if plan.tool_call is not None:
        calls = (ToolCall(name=plan.tool_call["name"], arguments=plan.tool_call["arguments"]),)
    return Completion(
        text=plan.text,
        finish_reason=plan.finish,
        tool_calls=calls,
        input_tokens=plan.input_tokens,
        output_tokens=plan.output_tokens,
        model_returned=plan.model,
        system_fingerprint=plan.fingerprint if protocol == "openai" else None,
        request_id=plan.request_id,
        latency_ms=latency_ms,
    )


def sim_client_factory(core: SimulatorCore) -> Callable[..., FakeClient]:
    """A ``Workspace(client_factory=...)`` answering every model from ``core``."""

    def factory(key: str, cfg: ModelConfig, *, simulator: Any = None, **_: Any) -> FakeClient:
        return FakeClient(
            lambda req: core_reply(core, req, cfg.model, protocol=cfg.protocol or "anthropic"),
            name=key,
            config=cfg.model_copy(update={"provider": "fake"}),
        )

    return factory
