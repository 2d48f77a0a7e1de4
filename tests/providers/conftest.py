"""Fixtures for provider tests: a fresh simulator per test and model configs pointing at it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from canaryflow.config import ModelConfig, Pricing, SimulatorConfig
from canaryflow.providers import ModelClient, make_client
from canaryflow.simulator import SimulatorServer

KEY_ENV = "CANARYFLOW_TEST_PROVIDER_KEY"
SECRET = "sk-test-DO-NOT-LEAK-5f3a9c1e7b"


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A fresh simulator (seed 0, no noise) on a free port."""
    with SimulatorServer(SimulatorConfig(seed=0, noise=0.0)) as server:
        yield server


@pytest.fixture
def api_key(monkeypatch: pytest.MonkeyPatch) -> str:
    """A fake API key in the environment; tests assert it never appears in error text."""
    monkeypatch.setenv(KEY_ENV, SECRET)
    return SECRET


@pytest.fixture
def client_for(sim: SimulatorServer, api_key: str):
    """Build a real anthropic/openai client against the test simulator."""
    made: list[ModelClient] = []

    def build(protocol: str, **cfg: Any) -> ModelClient:
        base = sim.url if protocol == "anthropic" else sim.openai_url
        options = {
            "backoff_base_s": cfg.pop("backoff_base_s", 0.01),
            "sleep": cfg.pop("sleep", None),
        }
        config = ModelConfig(
            provider=protocol,
            model=f"sim-{protocol}",
            base_url=base,
            api_key_env=KEY_ENV,
            pricing=Pricing(input=3.0, output=15.0),
            timeout_s=cfg.pop("timeout_s", 5.0),
            max_retries=cfg.pop("max_retries", 2),
            max_retry_after_s=cfg.pop("max_retry_after_s", 1.0),
            **cfg,
        )
        client = make_client(f"test-{protocol}", config, **options)
        made.append(client)
        return client

    return build
