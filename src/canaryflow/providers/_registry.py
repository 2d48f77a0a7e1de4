"""Provider factories registered by name; SDKs are imported only when a factory runs.

``make_client(key, cfg)`` looks up ``cfg.provider``. ``provider = "simulator"`` starts the
bundled simulator in this process (one per distinct ``SimulatorConfig``, reused afterwards) and
builds the real SDK client named by ``cfg.protocol`` against it. A configured real provider is
never replaced by the simulator: the factory is chosen by ``cfg.provider`` alone.
"""

from __future__ import annotations

import atexit
import importlib
import json
import threading
from collections.abc import Callable
from typing import Any

from canaryflow.config import ModelConfig, SimulatorConfig, resolve_api_key
from canaryflow.errors import CanaryflowError, ConfigError
from canaryflow.providers._base import ModelClient

__all__ = ["Factory", "make_client", "provider", "providers", "simulator_url"]

Factory = Callable[..., ModelClient]
"""``factory(key, cfg, *, simulator, **options) -> ModelClient``."""

_FACTORIES: dict[str, Factory] = {}


def provider(name: str) -> Callable[[Factory], Factory]:
    """Register a client factory under a provider name (``@provider("anthropic")``)."""

    def decorate(fn: Factory) -> Factory:
        _FACTORIES[name] = fn
        return fn

    return decorate


def providers() -> list[str]:
    """Registered provider names."""
    return sorted(_FACTORIES)


def _require(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError:
        raise CanaryflowError(
            f"provider needs the {package!r} package: pip install {package}"
        ) from None


def make_client(
    key: str,
    cfg: ModelConfig,
    *,
    simulator: SimulatorConfig | None = None,
    **options: Any,
) -> ModelClient:
    """Build the client for model ``key``.

    Args:
        key: the configuration key (``[models.<key>]``).
        cfg: the model configuration.
        simulator: settings of the in-process simulator (``provider = "simulator"`` only).
        **options: passed to the client (``backoff_base_s``, ``backoff_max_s``, ``sleep``;
            ``replies`` for ``fake``).

    Raises:
        MissingAPIKeyError: the key's environment variable is not set.
        CanaryflowError: the provider's SDK is not installed.
        ConfigError: unknown provider.
    """
    factory = _FACTORIES.get(cfg.provider)
    if factory is None:
        raise ConfigError(
            "canaryflow.toml",
            f"models.{key}.provider",
            f"unknown provider {cfg.provider!r}; known: {providers()}",
        )
    return factory(key, cfg, simulator=simulator, **options)


@provider("anthropic")
def _anthropic(key: str, cfg: ModelConfig, *, simulator: Any = None, **options: Any) -> ModelClient:
    _require("anthropic", "anthropic")
    from canaryflow.providers.anthropic import AnthropicClient

    return AnthropicClient(key, cfg, api_key=resolve_api_key(key, cfg), **options)


@provider("openai")
def _openai(key: str, cfg: ModelConfig, *, simulator: Any = None, **options: Any) -> ModelClient:
    _require("openai", "openai")
    from canaryflow.providers.openai import OpenAIClient

    return OpenAIClient(key, cfg, api_key=resolve_api_key(key, cfg), **options)


@provider("fake")
def _fake(key: str, cfg: ModelConfig, *, simulator: Any = None, **options: Any) -> ModelClient:
    from canaryflow.providers.fake import FakeClient

    replies = options.pop("replies", ())
    return FakeClient(replies, name=key, config=cfg, **options)


_SIMULATORS: dict[str, Any] = {}
_SIM_LOCK = threading.Lock()


def simulator_url(
    config: SimulatorConfig | None = None, params: dict[str, Any] | None = None
) -> str:
    """The base URL of this process's simulator for ``config``, starting it on first use.

    ``params`` are the initial scenario's parameters; each distinct (config, params) gets its
    own server, so a model with its own scenario never changes what another model sees.
    """
    config = config or SimulatorConfig()
    ident = config.model_dump_json() + json.dumps(params or {}, sort_keys=True, default=str)
    with _SIM_LOCK:
        server = _SIMULATORS.get(ident)
        if server is None:
            from canaryflow.simulator.server import SimulatorServer

            server = SimulatorServer(config, params=params)
            server.start()
            _SIMULATORS[ident] = server
        return server.url


@atexit.register
def _stop_simulators() -> None:
    with _SIM_LOCK:
        for server in _SIMULATORS.values():
            server.stop()
        _SIMULATORS.clear()


@provider("simulator")
def _simulator(
    key: str, cfg: ModelConfig, *, simulator: SimulatorConfig | None = None, **options: Any
) -> ModelClient:
    if cfg.scenario is not None:  # a per-model scenario: its own simulator, same seed
        simulator = (simulator or SimulatorConfig()).model_copy(update={"scenario": cfg.scenario})
        url = simulator_url(simulator, cfg.scenario_params)
    else:
        url = simulator_url(simulator)
    if cfg.protocol == "openai":
        _require("openai", "openai")
        from canaryflow.providers.openai import OpenAIClient

        return OpenAIClient(
            key,
            cfg.model_copy(update={"base_url": url + "/v1"}),
            api_key=resolve_api_key(key, cfg),
            **options,
        )
    _require("anthropic", "anthropic")
    from canaryflow.providers.anthropic import AnthropicClient

    return AnthropicClient(
        key, cfg.model_copy(update={"base_url": url}), api_key=resolve_api_key(key, cfg), **options
    )
