"""Fixtures for judge tests: a fresh simulator, real SDK clients against it, a real store."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from canaryflow.config import ModelConfig, Pricing, SimulatorConfig
from canaryflow.judges import Judge, shipped_rubric
from canaryflow.providers import make_client
from canaryflow.simulator import SimulatorServer
from canaryflow.store import Store

KEY_ENV = "CANARYFLOW_TEST_JUDGE_KEY"
PROTOCOLS = ("anthropic", "openai")


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A fresh simulator (seed 0, no wording noise) on a free port."""
    with SimulatorServer(SimulatorConfig(seed=0, noise=0.0)) as server:
        yield server


@pytest.fixture
def judge_store(tmp_path: Path) -> Iterator[Store]:
    """A real SQLite store."""
    with Store.open(f"sqlite:///{tmp_path}/judge.db") as store:
        yield store


def model_config(sim: SimulatorServer, protocol: str, **overrides: Any) -> ModelConfig:
    """A judge model served by the test simulator through the real SDK of ``protocol``."""
    fields: dict[str, Any] = {
        "provider": protocol,
        "model": f"sim-judge-{protocol}",
        "base_url": sim.url if protocol == "anthropic" else sim.openai_url,
        "api_key_env": KEY_ENV,
        "pricing": Pricing(input=3.0, output=15.0),
        "timeout_s": 10.0,
        "max_retries": 1,
        "max_retry_after_s": 0.1,
        "max_concurrency": 8,
    }
    fields.update(overrides)
    return ModelConfig(**fields)


@pytest.fixture
def make_judge(sim: SimulatorServer, monkeypatch: pytest.MonkeyPatch):
    """Build a Judge over the real SDK of a protocol against the test simulator."""
    monkeypatch.setenv(KEY_ENV, "sk-test-judge-key-0000")

    def build(protocol: str, rubric: str = "quality", **options: Any) -> Judge:
        model_overrides = options.pop("model", {})
        cfg = model_config(sim, protocol, **model_overrides)
        client = make_client(f"judge-{protocol}", cfg, backoff_base_s=0.01)
        return Judge(client, shipped_rubric(rubric), model_key=f"judge-{protocol}", **options)

    return build
