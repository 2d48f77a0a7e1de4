"""Daily golden flow: every configured model on every golden set, compared item by item with
its frozen baseline (the shared lifecycle of ``canaryflow.runs``; this module only composes).

Run it: ``canaryflow run golden``; schedule it with ``canaryflow serve`` (``[schedules] golden``)
or prefect.yaml.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger, task

from canaryflow.config import Config, load_config
from canaryflow.flows._common import crash_stale_flow_runs, run_time
from canaryflow.flows._registry import FlowEntry
from canaryflow.flows.canary import outcome_row
from canaryflow.runs import Workspace
from canaryflow.runs.golden import load_golden, run_model_golden

__all__ = ["ENTRY", "daily_golden", "publish_comparison_artifact"]


def publish_comparison_artifact(markdown_path: Any, key: str) -> None:
    """The PR-ready Markdown as a Prefect artifact of the running flow (no-op outside one, or
    with ``CANARYFLOW_NO_ARTIFACTS`` set, as the canary's artifacts)."""
    import os
    from pathlib import Path

    from prefect.artifacts import create_markdown_artifact
    from prefect.context import FlowRunContext

    if (
        markdown_path is None
        or FlowRunContext.get() is None
        or os.environ.get("CANARYFLOW_NO_ARTIFACTS")
    ):
        return
    text = Path(markdown_path).read_text(encoding="utf-8")
    slug = "".join(c if c.isalnum() else "-" for c in key.lower()).strip("-")[:90]
    create_markdown_artifact(markdown=text, key=slug, description=key)


@task(name="golden-model", retries=1, retry_delay_seconds=30)
def golden_model(
    config: Config, model: str, sets: list[str] | None, as_of: datetime
) -> dict[str, Any]:
    """Run, judge, compare, alert and report one model's golden sets."""
    ws = Workspace(config)
    outcome = run_model_golden(ws, model, load_golden(config, sets), as_of)
    logger = get_run_logger()
    if outcome.skipped:
        logger.info("%s: %s", model, outcome.skipped)
    if outcome.report_paths is not None:
        publish_comparison_artifact(outcome.report_paths.markdown, f"golden-{model}")
    for change in outcome.incidents:
        logger.warning(
            "incident %s %s: %s", change.incident.incident_id, change.action, change.incident.title
        )
    return outcome_row(outcome)


@flow(name="daily-golden")
def daily_golden(
    models: list[str] | None = None,
    sets: list[str] | None = None,
    as_of: datetime | None = None,
    config_path: str | None = None,
) -> list[dict[str, Any]]:
    """Evaluate every golden set on every configured model (or ``models``).

    Args:
        models: keys of ``[models]`` (default: ``[golden] models`` or all).
        sets: golden set names (default: every set in ``[golden] dir``).
        as_of: the time this run stands for (default: the scheduled start, or now).
        config_path: canaryflow.toml (default: ./canaryflow.toml or $CANARYFLOW_CONFIG).
    """
    config = load_config(config_path)
    when = run_time(as_of)
    crash_stale_flow_runs(config, "golden")
    load_golden(config, sets)  # fail fast on an unknown set or no valid set
    keys = config.model_keys(models or config.golden.models)
    # One model after another: a golden run is hundreds of calls already concurrent inside.
    return [golden_model(config, key, sets, when) for key in keys]


def _headline(s: dict[str, Any]) -> str:
    text = f"{s.get('passed', 0)}/{s.get('attempts', 0)} attempts passed"
    if s.get("judged"):
        text += f", {s['judged']} judged ({s.get('judge_errors', 0)} judge errors)"
    if s.get("verdict"):
        text += f"; {s['verdict']}"
        if s.get("flipped"):
            text += f" ({len(s['flipped'])} flipped: {', '.join(s['flipped'][:3])})"
    return text


ENTRY = FlowEntry(
    name="golden",
    entrypoint="canaryflow.flows.golden:daily_golden",
    deployment="daily-golden",
    description="Daily golden-set evaluation of every configured model against its baseline.",
    cli="canaryflow.cli._goldenflow",
    headline=_headline,
    tags=("canaryflow", "golden"),
)
