"""The hourly canary as a Prefect flow, against the bundled simulator (real SDKs over HTTP).

History is replayed with ``backfill_canary`` (the same engine the flow's tasks call, without the
per-run Prefect overhead); the runs that matter are ``hourly_canary`` flow runs on the session's
Prefect test server. Each test has its own simulator seed, hence its own simulator process-wide.
"""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import pytest
from canary_env import (
    REPETITIONS,
    T0,
    incident_markdown,
    runbook_sections,
    write_config,
)

from canaryflow.config import load_config
from canaryflow.providers import simulator_url
from canaryflow.runs import Workspace, backfill_canary
from canaryflow.simulator import set_scenario

pytestmark = pytest.mark.usefixtures("prefect_harness")

SEED = 7100


def _flow():  # type: ignore[no-untyped-def]
    import importlib.util

    from canary_env import REPO

    spec = importlib.util.spec_from_file_location(
        "canary_flow_under_test", REPO / "flows/canary.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.hourly_canary


hourly_canary = _flow()


def _warm(path: Path, models: list[str] | None = None) -> Workspace:
    """Replay the warm-up (baseline) hours ending at T0; return the workspace."""
    ws = Workspace(load_config(path))
    rows = backfill_canary(
        ws, runs=ws.config.alerts.for_flow("canary").warmup_runs, end=T0, models=models
    )
    assert all(o.summary["phase"] == "warmup" for row in rows for o in row)
    assert ws.store.list_baselines("canary"), "the warm-up froze no baseline"
    return ws


@pytest.fixture
def scenario():  # type: ignore[no-untyped-def]
    """Switch the test's simulator to a scenario; always switched back to baseline after."""
    used: list[str] = []

    def switch(path: Path, name: str, **params: object) -> None:
        url = simulator_url(load_config(path).simulator)
        set_scenario(url, name, **params)
        used.append(url)

    yield switch
    for url in used:
        set_scenario(url, "baseline")


def test_date_transposition_detected_within_two_runs_with_filled_runbook(
    tmp_path: Path, scenario
) -> None:  # type: ignore[no-untyped-def]
    # The shipped 24-run warm-up: counted per probe-run (not per repetition), 3-4 transposed
    # documents of 12 are not significant against a 4-run baseline at q = 0.001, but are
    # against 24 runs (288 probe-runs).
    path = write_config(tmp_path, seed=SEED + 1, warmup_runs=24)
    ws = _warm(path)
    scenario(path, "date_transposition", rate=0.3)

    detected_at: dict[str, int] = {}
    for hour in (1, 2):
        rows = hourly_canary(as_of=T0 + timedelta(hours=hour), config_path=str(path))
        assert {r["phase"] for r in rows} == {"monitor"}
        for r in rows:
            if r["incidents"]:
                detected_at.setdefault(r["model"], hour)
        if len(detected_at) == len(rows):
            break
    print(f"date_transposition 0.3 detected after {detected_at} hourly run(s)")
    assert set(detected_at) == {"support-bot", "extractor"}
    assert max(detected_at.values()) <= 2

    incidents = ws.store.list_incidents(flow="canary")
    assert len(incidents) == 2  # one per model, no duplicates across the runs
    for inc in incidents:
        assert inc.subject == "dates_eu" and inc.metric_class == "correctness"
        assert inc.state == "open"
        md = incident_markdown(ws.config, inc.incident_id)
        assert "dates_eu" in md
        # A failing probe, once with its k of n repetitions, and its transposed date (DD/MM
        # read as MM/DD).
        assert re.search(r"dates-eu-\d\d \(dates_eu, \d of \d repetitions? failed\)", md)
        assert not re.search(r"dates-eu-\d\d#\d", md)
        m = re.search(r"expected (\d{4})-(\d\d)-(\d\d), got (\d{4})-(\d\d)-(\d\d)", md)
        assert m is not None, md[:2000]
        assert m.group(4, 5, 6) == (m.group(1), m.group(3), m.group(2))
        sections = runbook_sections(md)
        for name in ("triage", "scope", "isolate", "respond", "learn"):
            body = sections.get(name, "")
            assert re.search(r"^- \S", body, re.M), f"runbook section {name!r} is empty: {body!r}"
        assert "dates-eu-" in sections["scope"]  # the affected probes are named
        assert "fingerprint" in sections["isolate"].lower()

    report = Path(rows[0]["report"])
    assert report.exists() and "dates_eu" in report.read_text(encoding="utf-8").replace("\\", "")


def test_silent_update_is_reported_as_fingerprint_change_with_checks_passing(
    tmp_path: Path, scenario
) -> None:  # type: ignore[no-untyped-def]
    path = write_config(tmp_path, seed=SEED + 2)
    ws = _warm(path)
    scenario(path, "silent_update")

    rows = hourly_canary(as_of=T0 + timedelta(hours=1), config_path=str(path))
    assert len(rows) == 2
    for r in rows:
        s = r["summary"]
        assert r["status"] == "completed" and r["incidents"], r
        assert s["passed"] == s["evaluated"] == REPETITIONS  # every check still passes
        k, n = map(
            int, re.match(r"(\d+) of (\d+) probes changed output", s["fingerprint"]).groups()
        )
        assert n == 57 and k >= 20, s["fingerprint"]

        alerts = ws.store.list_alerts(run_id=r["run_id"])
        assert [a.metric_class for a in alerts] == ["fingerprint"]
        assert not [a for a in alerts if a.metric == "pass_rate"]  # no pass-rate regression
        inc = ws.store.get_incident(r["incidents"][0])
        assert inc is not None and inc.metric_class == "fingerprint"

        report = Path(r["report"]).read_text(encoding="utf-8").replace("\\", "")
        assert f"{k} of {n} probes changed output" in report
        assert re.search(r"every check still passes|checks still pass", report)
        results = json.loads(Path(r["report"]).with_suffix(".json").read_text())["results"]
        assert len(results) == 10  # every family compared ...
        assert all(x["verdict"] != "regression" for x in results)  # ... none regressed
        assert all(x["current_value"] == 1.0 for x in results)
        md = incident_markdown(ws.config, inc.incident_id)
        assert f"{k} of {n} probes changed output" in md
    openai_alert = ws.store.list_alerts(run_id=rows[1]["run_id"])[0]
    assert openai_alert.evidence["new_system_fingerprints"]  # the openai side also says so


def test_error_burst_of_429_and_500_loses_nothing_and_opens_no_incident(
    tmp_path: Path, scenario
) -> None:  # type: ignore[no-untyped-def]
    # support-bot retries (the default 3); extractor does not, so its errors stay errors.
    path = write_config(tmp_path, seed=SEED + 3, model_updates={"extractor": {"max_retries": 0}})
    ws = _warm(path)
    scenario(path, "error_burst", rate=0.1, kinds="429,500", retry_after=0)

    rows = {
        r["model"]: r for r in hourly_canary(as_of=T0 + timedelta(hours=1), config_path=str(path))
    }
    for r in rows.values():
        s = r["summary"]
        assert r["status"] == "completed" and r["incidents"] == [], r
        assert not ws.store.list_alerts(run_id=r["run_id"])
        items = ws.store.items_for_runs([r["run_id"]])
        assert len(items) == s["attempts"] == REPETITIONS  # every attempt stored
        assert 0.02 <= s["call_error_rate"] <= 0.25, s
        report = Path(r["report"]).read_text(encoding="utf-8")
        assert f"{s['errors']} call errors ({s['error_rate']:.1%})" in report
        assert f"({s['call_error_rate']:.1%}) and were retried" in report

    retried, raw = rows["support-bot"]["summary"], rows["extractor"]["summary"]
    assert retried["errors"] == 0 and retried["failed_calls"] > 0  # retries absorbed them
    assert 0.02 <= raw["error_rate"] <= 0.25 and set(raw["error_kinds"]) <= {"rate_limit", "server"}
    failed = [i for i in ws.store.items_for_runs([rows["extractor"]["run_id"]]) if i.error]
    assert len(failed) == raw["errors"] and all(i.passed is None for i in failed)


def test_malformed_probe_files_give_file_line_field_errors_and_valid_probes_run(
    tmp_path: Path,
) -> None:
    probes = tmp_path / "probes"
    import shutil

    from canary_env import PROBES

    shutil.copytree(PROBES, probes)
    (probes / "zz_bad_yaml.yaml").write_text(
        "probes:\n  - id: broken-yaml\n    tags: [misc\n    prompt: hi\n", encoding="utf-8"
    )
    (probes / "zz_bad_regex.yaml").write_text(
        "probes:\n  - id: bad-regex\n    description: x\n    tags: [misc]\n    prompt: hi\n"
        '    checks:\n      - {type: regex, pattern: "(unclosed"}\n',
        encoding="utf-8",
    )
    path = write_config(tmp_path, seed=SEED + 4, probes_dir=probes)

    rows = hourly_canary(models=["support-bot"], as_of=T0, config_path=str(path))
    (r,) = rows
    errors = r["summary"]["probe_file_errors"]
    assert len(errors) == 2, errors
    regex_error = next(e for e in errors if "zz_bad_regex.yaml" in e)
    yaml_error = next(e for e in errors if "zz_bad_yaml.yaml" in e)
    assert re.search(
        r"zz_bad_regex\.yaml:7: probes\[0\]\.checks\[0\]\.pattern: invalid regular", regex_error
    )
    assert re.search(r"zz_bad_yaml\.yaml:\d+: invalid YAML", yaml_error)
    # The 57 valid probes still ran, every attempt stored.
    assert r["summary"]["attempts"] == REPETITIONS and r["status"] == "completed"
    report = Path(r["report"]).read_text(encoding="utf-8").replace("\\", "")
    assert "zz_bad_regex.yaml:7" in report and "zz_bad_yaml.yaml:" in report


def test_flow_with_model_selection_publishes_its_artifacts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CANARYFLOW_NO_ARTIFACTS", raising=False)
    from prefect.client.orchestration import get_client
    from prefect.client.schemas.filters import ArtifactFilter, ArtifactFilterFlowRunId

    path = write_config(tmp_path, seed=SEED + 5)
    state = hourly_canary(models=["extractor"], as_of=T0, config_path=str(path), return_state=True)
    assert state.is_completed(), state
    rows = state.result()
    assert [r["model"] for r in rows] == ["extractor"]
    assert rows[0]["phase"] == "warmup" and rows[0]["status"] == "completed"
    assert rows[0]["summary"]["attempts"] == REPETITIONS
    ws = Workspace(load_config(path))
    assert [r.model for r in ws.store.list_runs("canary")] == ["extractor"]

    flow_run_id = state.state_details.flow_run_id
    with get_client(sync_client=True) as client:
        artifacts = client.read_artifacts(
            artifact_filter=ArtifactFilter(flow_run_id=ArtifactFilterFlowRunId(any_=[flow_run_id]))
        )
    kinds = {a.type for a in artifacts}
    assert "markdown" in kinds, [(a.key, a.type) for a in artifacts]
