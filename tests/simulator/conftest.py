"""Fixtures for simulator tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from canaryflow.config import SimulatorConfig
from canaryflow.simulator import SimulatorServer


@pytest.fixture
def sim() -> Iterator[SimulatorServer]:
    """A fresh simulator (seed 0, no noise) on a free port."""
    with SimulatorServer(SimulatorConfig(seed=0, noise=0.0)) as server:
        yield server
