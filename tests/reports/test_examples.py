"""The example generator runs end to end and the committed examples exist."""

from __future__ import annotations

import json
import runpy
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema

from canaryflow.incidents._runbook import cli_command
from canaryflow.reports import REPORT_SCHEMA_PATH

EXAMPLES = Path(__file__).resolve().parents[2] / "reports" / "examples"


def test_make_examples_into_tmp(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("GITHUB_STEP_SUMMARY", raising=False)
    main = runpy.run_path(str(EXAMPLES / "make_examples.py"))["main"]
    paths = main(tmp_path / "out")
    for key in ("ewma_png", "pass_rate_png"):
        data = paths[key].read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 20_000
    md = paths["incident_md"].read_text()
    for fact in (
        "1.00 -&gt; 0.70",
        "dates-eu-01",
        "14 of 20 probes changed output",
        'model = "sim-sonnet-2024-01-15"',
        "dates-eu-01** (dates\\_eu, 2 of 4 repetitions failed)",
        "acknowledged by oncall-alice: looking at it",
        "fisher",
        "bernoulli",
        "ewma",
        "](../dates-eu-ewma.png)",
    ):
        assert fact in md, fact
    if cli_command("golden", "add-from-incident") is not None:
        assert "canaryflow golden add-from-incident INC-20240403-0001" in md
    else:  # the command is not in this build: the runbook says how to do it by hand
        assert "golden add-from-incident" not in md
        assert "golden\\_sets/financial\\_extraction.jsonl" in md
    assert md.count("Rechnung vom 03/04/2024") == 1  # once per probe, not per attempt
    assert "example.de" not in md and "+49" not in md
    assert str(tmp_path) not in md  # no absolute paths in the report
    incident = json.loads(paths["incident_json"].read_text())
    assert incident["runbook"]["config_lines"].startswith("[models.support-bot]")
    report = json.loads(paths["report_json"].read_text())
    jsonschema.Draft202012Validator(json.loads(REPORT_SCHEMA_PATH.read_text())).validate(report)
    assert str(tmp_path) not in paths["report_json"].read_text()
    ET.parse(paths["report_junit"])


def test_committed_examples_exist() -> None:
    for name in (
        "dates-eu-ewma.png",
        "incidents/INC-20240403-0001.md",
        "incidents/INC-20240403-0001.json",
        "canary/latest-support-bot.md",
    ):
        assert (EXAMPLES / name).is_file(), name
