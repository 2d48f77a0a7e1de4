"""Helpers for tests and demos that drive the simulator (no pytest dependency)."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

from canaryflow.records import CompletionRequest, Message

__all__ = ["ask", "run"]


def run(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine to completion on a fresh event loop."""
    return asyncio.run(coro)


def ask(prompt: str, *, system: str = "", **kw: Any) -> CompletionRequest:
    """A one-turn request (optional system prompt); ``kw`` sets other request fields."""
    messages = [Message(role="user", content=prompt)]
    if system:
        messages.insert(0, Message(role="system", content=system))
    return CompletionRequest(messages=tuple(messages), **kw)
