"""Client helpers for a running simulator's admin endpoints (stdlib only, synchronous)."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from typing import Any

__all__ = ["get_state", "reset", "set_scenario"]


def _call(url: str, path: str, payload: dict[str, Any] | None = None) -> dict[str, Any]:
    base = url.rstrip("/")
    if base.endswith("/v1"):
        base = base[:-3]
    data = None if payload is None else json.dumps(payload).encode()
    req = urllib.request.Request(
        base + path,
        data=data,
        method="GET" if data is None else "POST",
        headers={"content-type": "application/json"},
    )
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())
    except urllib.error.HTTPError as exc:
        detail = exc.read().decode(errors="replace")
        raise ValueError(f"simulator at {base} refused {path}: {exc.code} {detail}") from None


def set_scenario(url: str, name: str, **params: Any) -> dict[str, Any]:
    """Switch a running simulator to scenario ``name`` with ``params``; returns its state.

    Raises:
        ValueError: unknown scenario or parameter (the simulator's message).
    """
    return _call(url, "/admin/scenario", {"name": name, **params})


def get_state(url: str) -> dict[str, Any]:
    """The simulator's scenario, params, seed, noise and request counters."""
    return _call(url, "/admin/state")


def reset(url: str) -> dict[str, Any]:
    """Clear the simulator's counters and occurrence indices."""
    return _call(url, "/admin/reset", {})
