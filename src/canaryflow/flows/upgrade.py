"""The model-upgrade gate as a Prefect flow, deployable from the UI with parameters.

Same engine as ``canaryflow compare`` (``canaryflow.runs.upgrade``): both models on the same
golden items (and probes), paired; the PR-ready Markdown becomes a Prefect artifact. No
schedule: it runs when someone changes a model pin or a prompt.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from prefect import flow, get_run_logger

from canaryflow.config import load_config
from canaryflow.flows._registry import FlowEntry
from canaryflow.flows.golden import publish_comparison_artifact
from canaryflow.runs import Workspace
from canaryflow.runs.upgrade import compare_models

__all__ = ["ENTRY", "model_upgrade"]


@flow(name="model-upgrade")
def model_upgrade(
    baseline: str,
    candidate: str,
    golden: list[str] | None = None,
    probes: str | None = None,
    report_dir: str | None = None,
    full_report_url: str | None = None,
    as_of: datetime | None = None,
    pairwise: bool = False,
    config_path: str | None = None,
) -> dict[str, Any]:
    """Compare ``candidate`` with ``baseline`` on the same items; return the verdict.

    Args:
        baseline: the ``[models]`` key in use now.
        candidate: the ``[models]`` key of the proposed model (pin or prompt change).
        golden: golden set names (default: every set).
        probes: a probe directory whose probes join as paired items (default: none).
        report_dir: where the PR artifacts go (default: ``[reports] dir``).
        full_report_url: link to the full report in the comment (e.g. the CI artifact page).
        as_of: the time the comparison is recorded at (default: now).
        pairwise: also ask the judge which answer is better, in both orders.
        config_path: canaryflow.toml.
    """
    ws = Workspace(load_config(config_path))
    result = compare_models(
        ws,
        baseline,
        candidate,
        sets=golden,
        probes_dir=probes,
        report_dir=report_dir,
        full_report_url=full_report_url,
        as_of=as_of,
        pairwise=pairwise,
    )
    publish_comparison_artifact(result.paths.markdown, f"upgrade-{candidate}-vs-{baseline}")
    cmp = result.comparison
    get_run_logger().info("%s vs %s: %s %s", candidate, baseline, cmp.verdict, list(cmp.reasons))
    return {
        "run_id": result.run_id,
        "verdict": cmp.verdict,
        "reasons": list(cmp.reasons),
        "regressions": [f.item_id for f in cmp.regressions],
        "report": str(result.paths.markdown),
    }


def _headline(s: dict[str, Any]) -> str:
    return f"{s.get('verdict', '?')}: {'; '.join(s.get('reasons', [])[:2])}"


ENTRY = FlowEntry(
    name="upgrade",
    entrypoint="canaryflow.flows.upgrade:model_upgrade",
    deployment="model-upgrade",
    description="Model-upgrade gate: a candidate model vs the baseline on the same items.",
    cli="canaryflow.cli._goldenflow",
    headline=_headline,
    tags=("canaryflow", "upgrade"),
    scheduled=False,
)
