"""Public APIs: every ``__all__`` is sorted and names things that exist."""

from __future__ import annotations

import importlib

import pytest

PACKAGES = [
    "canaryflow",
    "canaryflow.checks",
    "canaryflow.embeddings",
    "canaryflow.errors",
    "canaryflow.incidents",
    "canaryflow.judges",
    "canaryflow.production",
    "canaryflow.production.generator",
    "canaryflow.providers",
    "canaryflow.records",
    "canaryflow.reports",
    "canaryflow.runs",
    "canaryflow.simulator",
    "canaryflow.stats",
    "canaryflow.store",
]


@pytest.mark.parametrize("name", PACKAGES)
def test_all_sorted_and_complete(name: str) -> None:
    module = importlib.import_module(name)
    exported = list(module.__all__)
    assert exported == sorted(exported) or exported == sorted(exported, key=str.lower), (
        f"{name}.__all__ is not sorted"
    )
    missing = [n for n in exported if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ names missing attributes: {missing}"
