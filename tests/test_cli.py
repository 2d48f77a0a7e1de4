"""The CLI: commands listed, one line per config problem, exit codes, schema and probe checks."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from typer.testing import CliRunner

from canaryflow.cli import app

ROOT = Path(__file__).parents[1]
runner = CliRunner()


def test_help_lists_commands() -> None:
    result = runner.invoke(app, ["--help"])
    assert result.exit_code == 0
    for command in (
        "config",
        "schema",
        "probes",
        "run",
        "backfill",
        "baseline",
        "incidents",
        "serve",
        "simulator",
        "demo",
    ):
        assert command in result.output


def test_config_check_ok_masks_secrets(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    result = runner.invoke(app, ["config", "check", "--config", str(ROOT / "canaryflow.toml")])
    assert result.exit_code == 0, result.output
    assert "configuration is valid" in result.output


def test_config_check_broken_one_line_per_problem(tmp_path: Path) -> None:
    bad = tmp_path / "canaryflow.toml"
    bad.write_text(
        '[models.a]\nprovider = "nope"\nmodel = 3\npricing = { input = "cheap", output = 1 }\n'
        '[judge]\nmodel = "a"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["config", "check", "--config", str(bad)])
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("error")]
    assert len(lines) == 3, result.output
    assert any('models.a.pricing.input: expected a number, got "cheap"' in x for x in lines)
    assert "Traceback" not in result.output


def test_schema_probe_matches_committed_file() -> None:
    result = runner.invoke(app, ["schema", "probe"])
    assert result.exit_code == 0
    committed = json.loads((ROOT / "src/canaryflow/schemas/probe.schema.json").read_text())
    assert json.loads(result.output) == committed


def test_probes_validate_reports_file_line_field(tmp_path: Path) -> None:
    good = (ROOT / "probes" / "arithmetic.yaml").read_text(encoding="utf-8")
    (tmp_path / "arithmetic.yaml").write_text(good, encoding="utf-8")
    (tmp_path / "broken.yaml").write_text(
        "probes:\n  - id: broken\n    description: x\n    tags: [misc]\n    prompt: hi\n"
        '    checks:\n      - {type: regex, pattern: "(unclosed"}\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["probes", "validate", str(tmp_path)])
    assert result.exit_code == 2
    assert "broken.yaml:7: probes[0].checks[0].pattern: invalid regular expression" in (
        result.output.replace("\n", "")
    )
    assert "valid probe(s), 1 problem(s)" in result.output


def test_shipped_probes_validate() -> None:
    result = runner.invoke(app, ["probes", "validate", str(ROOT / "probes")])
    assert result.exit_code == 0, result.output


def test_bad_timestamp_is_usage_error(tmp_path: Path) -> None:
    result = runner.invoke(
        app, ["run", "canary", "--config", str(ROOT / "canaryflow.toml"), "--as-of", "yesterday"]
    )
    assert result.exit_code == 2


def test_missing_api_key_is_one_line_naming_the_variable(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.delenv("MY_ANTHROPIC_KEY", raising=False)
    cfg = tmp_path / "canaryflow.toml"
    cfg.write_text(
        '[models.prod]\nprovider = "anthropic"\nmodel = "claude-x"\n'
        'api_key_env = "MY_ANTHROPIC_KEY"\n',
        encoding="utf-8",
    )
    for args in (["run", "canary"], ["backfill", "canary", "--runs", "2"]):
        result = runner.invoke(app, [*args, "--config", str(cfg)])
        assert result.exit_code == 2, result.output
        assert "MY_ANTHROPIC_KEY" in result.output
        assert "Traceback" not in result.output


def test_a_crash_is_exit_4_in_one_line_never_the_incident_code(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defect 10: an uncaught crash exited 1, the incident code, so CI could not tell them apart."""
    import canaryflow.runs

    def boom(*_: object, **__: object) -> None:
        raise RuntimeError("disk on fire\nsecond line of detail")

    monkeypatch.setattr(canaryflow.runs, "open_workspace", boom)
    cfg = str(ROOT / "canaryflow.toml")
    result = runner.invoke(app, ["baseline", "list", "-c", cfg])
    assert result.exit_code == 4
    assert "internal error RuntimeError: disk on fire" in result.output
    assert "Traceback" not in result.output and "second line" not in result.output
    debug = runner.invoke(app, ["--debug", "baseline", "list", "-c", cfg])
    assert debug.exit_code == 4 and "Traceback" in debug.output


def test_an_unreachable_store_is_exit_4(tmp_path: Path) -> None:
    cfg = tmp_path / "canaryflow.toml"
    cfg.write_text(
        '[store]\nurl = "postgresql+psycopg://nobody:secret@127.0.0.1:9/none"\n'
        '[models.bot]\nprovider = "simulator"\nmodel = "m"\n',
        encoding="utf-8",
    )
    result = runner.invoke(app, ["baseline", "list", "-c", str(cfg)])
    assert result.exit_code == 4, result.output
    assert "secret" not in result.output


def test_committed_prefect_yaml_is_generated_from_the_registry() -> None:
    """prefect.yaml follows the flow registry and [schedules]; its names never replace serve's."""
    import yaml

    from canaryflow.cli._runs import deployments_yaml
    from canaryflow.config import load_config
    from canaryflow.flows import flow_entries

    cfg = load_config(ROOT / "canaryflow.toml")
    assert (ROOT / "prefect.yaml").read_text(encoding="utf-8") == deployments_yaml(cfg)
    doc = yaml.safe_load(deployments_yaml(cfg))
    names = {d["name"] for d in doc["deployments"]}
    serve_names = {e.deployment for e in flow_entries().values()}
    assert names == {f"{n}-pool" for n in serve_names} and not names & serve_names
    for d in doc["deployments"]:
        assert d["entrypoint"].startswith("canaryflow.flows.")
        assert d["parameters"]["config_path"] == "{{ $PWD }}/canaryflow.toml"


def test_prefect_settings_are_in_place_before_prefect_is_imported() -> None:
    """Defect 11: the raised ephemeral-server start timeout must reach Prefect, which reads its
    settings once at import (setting them later had no effect)."""
    import subprocess
    import sys

    code = (
        "import canaryflow.cli\n"
        "from prefect.settings import get_current_settings as s\n"
        "print(s().server.ephemeral.startup_timeout_seconds, s().logging.level)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFECT_")}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env)
    assert out.stdout.split() == ["180", "WARNING"], out.stderr[-2000:]
