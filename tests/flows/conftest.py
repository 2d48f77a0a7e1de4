"""Flow tests share the canary test helpers of tests/runs (temp projects, the core-backed fake)."""

from __future__ import annotations

import sys
from pathlib import Path

_RUNS = str(Path(__file__).resolve().parents[1] / "runs")
if _RUNS not in sys.path:
    sys.path.insert(0, _RUNS)
