"""Canary runs over several models and several hours (run now, backfill, demo replay)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

from canaryflow.definitions import ProbeSet, load_probes
from canaryflow.errors import DataError, DataErrors
from canaryflow.runs._workspace import Workspace
from canaryflow.runs.canary import CanaryOutcome, canary_run_id, run_model_canary

__all__ = ["backfill_canary", "default_as_of", "load_canary_probes", "run_canary"]


def default_as_of(now: datetime | None = None) -> datetime:
    """Now, truncated to the minute (a rerun within the same minute is the same run)."""
    now = now or datetime.now(UTC)
    return now.astimezone(UTC).replace(second=0, microsecond=0)


def load_canary_probes(ws: Workspace, probes_dir: str | Path | None = None) -> ProbeSet:
    """Load probes; malformed files are reported in the set, valid probes still run.

    Raises:
        DataErrors: no valid probe at all (nothing could run).
    """
    directory = Path(probes_dir or ws.config.canary.probes_dir)
    probe_set = load_probes(directory, checks_dir=ws.config.checks.local_dir)
    if not probe_set.probes:
        raise (
            DataErrors(probe_set.errors)
            if probe_set.errors
            else DataErrors([_no_probes(directory)])
        )
    return probe_set


def _no_probes(directory: Path) -> DataError:
    return DataError(str(directory), None, None, "no probe files (*.yaml) found")


def run_canary(
    ws: Workspace,
    *,
    models: Sequence[str] | None = None,
    probes_dir: str | Path | None = None,
    as_of: datetime | None = None,
    probe_set: ProbeSet | None = None,
    resume: bool = False,
) -> list[CanaryOutcome]:
    """One hourly canary for each model, without Prefect (the flow wraps the same calls).

    With ``resume`` (backfills), an hour whose run already finished is left as it is, so a
    killed backfill started again continues where it stopped instead of redoing every hour.
    """
    probe_set = probe_set or load_canary_probes(ws, probes_dir)
    when = as_of or default_as_of()
    out = []
    for key in ws.config.model_keys(list(models) if models else ws.config.canary.models):
        done = ws.store.get_run(canary_run_id(key, when)) if resume else None
        if done is not None and done.status in ("completed", "degraded"):
            out.append(CanaryOutcome(done, None, summary=dict(done.summary), skipped="already run"))
            continue
        out.append(run_model_canary(ws, key, probe_set.probes, when, probe_errors=probe_set.errors))
    return out


def backfill_canary(
    ws: Workspace,
    *,
    runs: int,
    every: timedelta = timedelta(hours=1),
    end: datetime | None = None,
    models: Sequence[str] | None = None,
    probes_dir: str | Path | None = None,
    on_run: Callable[[int, list[CanaryOutcome]], None] | None = None,
) -> list[list[CanaryOutcome]]:
    """``runs`` back-dated hourly canaries ending at ``end`` (oldest first), in one process."""
    probe_set = load_canary_probes(ws, probes_dir)
    last = default_as_of(end)
    out = []
    for i in range(runs):
        when = last - every * (runs - 1 - i)
        outcomes = run_canary(ws, models=models, as_of=when, probe_set=probe_set, resume=True)
        out.append(outcomes)
        if on_run is not None:
            on_run(i, outcomes)
    return out
