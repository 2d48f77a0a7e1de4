"""What a run needs around it: the configuration, the store, the sinks and where reports go.

A Workspace is cheap to build and holds no state of its own beyond handles, so flows on
several workers each build their own (all state lives in the store).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from functools import cached_property
from pathlib import Path
from typing import Any

from canaryflow.config import Config, load_config
from canaryflow.store import Store

__all__ = ["Workspace", "open_workspace"]


class Workspace:
    """Configuration + store + incident plumbing for one process."""

    def __init__(self, config: Config, *, client_factory: Callable[..., Any] | None = None) -> None:
        self.config = config
        self.client_factory = client_factory
        """Overrides ``providers.make_client`` (tests inject the in-process fake provider)."""

    @cached_property
    def store(self) -> Store:
        """The results store named by ``[store] url``."""
        return Store.open(self.config.store.url)

    @property
    def reports_dir(self) -> Path:
        """Root of the report tree (``[reports] dir``)."""
        return Path(self.config.reports.dir)

    def sinks(self, context: Any = None) -> list[Any]:
        """The configured incident sinks; the file sink is always first."""
        from canaryflow.incidents._sinks import FileSink, GitHubIssueSink, WebhookSink

        def provider(*args: Any) -> Any:
            return context(*args) if callable(context) else context

        sinks: list[Any] = [FileSink(self.config.sinks.file.dir, context_provider=provider)]
        hook = self.config.sinks.webhook
        if hook is not None and os.environ.get(hook.url_env):
            sinks.append(WebhookSink(os.environ[hook.url_env], context_provider=provider))
        gh = self.config.sinks.github
        if gh is not None and os.environ.get(gh.token_env):
            sinks.append(
                GitHubIssueSink(
                    gh.repo, os.environ[gh.token_env], labels=gh.labels, context_provider=provider
                )
            )
        return sinks

    def incidents(self, context: Any = None) -> Any:
        """An IncidentManager writing to the store and the configured sinks."""
        from canaryflow.incidents._manager import IncidentManager

        return IncidentManager(self.store, self.sinks(context), context=context)

    def open_incident_run_ids(self, flow: str, model: str) -> set[str]:
        """Runs that contributed to an open or acknowledged incident (never baseline data)."""
        return set(self.store.open_incident_run_ids(flow, model))


def open_workspace(config_path: str | os.PathLike[str] | None = None) -> Workspace:
    """Load the configuration (raising ConfigErrors) and build a Workspace."""
    return Workspace(load_config(config_path))
