"""The public API of canaryflow.stats and canaryflow.embeddings is curated and sorted."""

from __future__ import annotations

import importlib

import pytest


@pytest.mark.parametrize("name", ["canaryflow.stats", "canaryflow.embeddings"])
def test_all_is_sorted_and_complete(name: str) -> None:
    mod = importlib.import_module(name)
    assert mod.__all__ == sorted(mod.__all__)
    public = {
        n for n in vars(mod) if not n.startswith("_") and not isinstance(getattr(mod, n), type(mod))
    }
    assert public == set(mod.__all__)
    for n in mod.__all__:
        assert getattr(mod, n).__doc__, n
