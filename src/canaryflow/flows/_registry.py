"""The flow registry: one :class:`FlowEntry` per flow, found through entry points."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from importlib import import_module
from importlib.metadata import entry_points
from typing import Any

from canaryflow.errors import CanaryflowError

__all__ = ["FlowEntry", "flow_entries", "get_entry"]

GROUP = "canaryflow.flows"


@dataclass(frozen=True)
class FlowEntry:
    """Everything the CLI, ``serve`` and ``prefect.yaml`` need to know about one flow."""

    name: str
    """Short name: ``canaryflow run <name>``, ``[schedules] <name>``, ``[alerts.<name>]``."""
    entrypoint: str
    """Module path of the Prefect flow, ``canaryflow.flows.canary:hourly_canary``."""
    deployment: str
    """Deployment name used by ``canaryflow serve`` (prefect.yaml adds ``-pool``)."""
    description: str
    cli: str
    """Module that registers the flow's ``run`` / ``backfill`` commands when imported."""
    headline: Callable[[dict[str, Any]], str]
    """One line of a run's summary for the CLI's table."""
    tags: tuple[str, ...] = ()
    scheduled: bool = True
    """False: run on demand only (the upgrade gate), no ``[schedules]`` entry."""

    def load(self) -> Any:
        """The Prefect flow object."""
        module, attr = self.entrypoint.split(":")
        return getattr(import_module(module), attr)

    def cron(self, config: Any) -> str | None:
        """The flow's cron from ``[schedules]``; None for an on-demand flow."""
        return str(getattr(config.schedules, self.name)) if self.scheduled else None


@cache
def flow_entries() -> dict[str, FlowEntry]:
    """Registered flows by name, in a stable order."""
    found: dict[str, FlowEntry] = {}
    for ep in entry_points(group=GROUP):
        entry = ep.load()
        if not isinstance(entry, FlowEntry):
            raise CanaryflowError(f"entry point {ep.name!r} in {GROUP} is not a FlowEntry")
        found[entry.name] = entry
    order = {"canary": 0, "golden": 1, "production": 2}
    return dict(sorted(found.items(), key=lambda kv: (order.get(kv[0], 9), kv[0])))


def get_entry(name: str) -> FlowEntry:
    entries = flow_entries()
    if name not in entries:
        raise CanaryflowError(f"unknown flow {name!r}; registered: {sorted(entries)}")
    return entries[name]
