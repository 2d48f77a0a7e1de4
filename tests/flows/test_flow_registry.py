"""The golden and upgrade flows join ``serve`` and prefect.yaml through the registry alone."""

from __future__ import annotations

from canary_env import REPO

from canaryflow.cli._runs import deployments_yaml, serve_deployments
from canaryflow.config import load_config
from canaryflow.flows import flow_entries


def test_serve_registers_the_daily_golden_deployment_from_schedules() -> None:
    cfg = load_config(REPO / "canaryflow.toml")
    assert {"canary", "golden", "upgrade"} <= set(flow_entries())
    deployments = {d.name: d for d in serve_deployments(cfg)}
    golden = deployments["daily-golden"]
    assert [s.schedule.cron for s in golden.schedules] == [cfg.schedules.golden]
    assert golden.parameters["config_path"].endswith("canaryflow.toml")
    upgrade = deployments["model-upgrade"]
    assert not upgrade.schedules  # on demand, parameters from the UI
    from prefect.utilities.callables import parameter_schema

    schema = parameter_schema(flow_entries()["upgrade"].load().fn)  # what the UI form shows
    assert {"baseline", "candidate"} <= set(schema.required)
    assert {"golden", "probes", "full_report_url"} <= set(schema.properties)


def test_prefect_yaml_lists_the_golden_deployment_on_its_cron() -> None:
    cfg = load_config(REPO / "canaryflow.toml")
    text = deployments_yaml(cfg)
    assert "name: daily-golden-pool" in text and "canaryflow.flows.golden:daily_golden" in text
    assert (REPO / "prefect.yaml").read_text(encoding="utf-8") == text


def test_the_example_workflow_uses_only_real_compare_options() -> None:
    import re

    import typer.main
    import yaml

    from canaryflow.cli import app

    flow = yaml.safe_load((REPO / "examples/github-actions/golden-compare.yml").read_text())
    steps = flow["jobs"]["compare"]["steps"]
    script = next(s["run"] for s in steps if "canaryflow compare" in s.get("run", ""))
    used = set(re.findall(r"(--[a-z][a-z-]+)", script.split("canaryflow compare", 1)[1]))
    compare = typer.main.get_command(app).commands["compare"]  # type: ignore[attr-defined]
    known = {o for p in compare.params for o in p.opts}
    assert used and used <= known, used - known
