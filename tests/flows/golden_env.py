"""Temporary projects for the golden-flow tests: the shipped config with its own store, a copy
of the shipped golden sets (add-from-incident writes there) and the golden warm-up of 3 days."""

from __future__ import annotations

import shutil
from pathlib import Path

from canary_env import REPO, write_config

from canaryflow.config import load_config
from canaryflow.demo import to_toml

__all__ = ["write_golden_config"]


def write_golden_config(tmp: Path, *, seed: int, warmup_runs: int = 3) -> Path:
    """The shipped config under ``tmp`` with ``tmp/golden_sets`` (a copy of the shipped sets)."""
    path = write_config(
        tmp, seed=seed, alerts={"golden": {"warmup_runs": warmup_runs, "alpha": 0.05}}
    )
    shutil.copytree(REPO / "golden_sets", tmp / "golden_sets")
    cfg = load_config(path)
    cfg = cfg.model_copy(
        update={"golden": cfg.golden.model_copy(update={"dir": str(tmp / "golden_sets")})}
    )
    path.write_text(to_toml(cfg), encoding="utf-8")
    return path
