"""What the flows and the CLI call: one function per user-facing action.

The Prefect flows in ``flows/`` wrap these in tasks; the CLI calls them (or the flows) with
the same parameter names. Nothing here imports Prefect.
"""

from canaryflow.runs._workspace import Workspace, open_workspace
from canaryflow.runs.canary import CanaryOutcome, canary_run_id, run_model_canary
from canaryflow.runs.canary_batch import backfill_canary, load_canary_probes, run_canary

__all__ = [
    "CanaryOutcome",
    "Workspace",
    "backfill_canary",
    "canary_run_id",
    "load_canary_probes",
    "open_workspace",
    "run_canary",
    "run_model_canary",
]
