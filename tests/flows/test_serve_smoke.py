"""Smoke test of scheduling: a real Prefect server plus ``canaryflow serve``.

Prefect 3.8.x with SQLAlchemy 2.1 registers deployments fine but its scheduler never creates a
run, so cron schedules silently never fire (shared reference, section 0). This test fails on
exactly that: after ``canaryflow serve`` registered the hourly canary, the server's scheduler
must create SCHEDULED runs, and its log must hold no ERROR or Traceback.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

ROOT = Path(__file__).parents[2]
BIN = Path(sys.executable).parent


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _post(url: str, body: dict) -> object:
    req = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"content-type": "application/json"}
    )
    with urllib.request.urlopen(req, timeout=10) as resp:
        return json.loads(resp.read())


def _stop(proc: subprocess.Popen, timeout: float = 15) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.mark.slow
def test_serve_registers_deployment_and_scheduler_creates_runs(tmp_path: Path) -> None:
    port = _free_port()
    api = f"http://127.0.0.1:{port}/api"
    env = {
        **os.environ,
        "PREFECT_HOME": str(tmp_path / "prefect-home"),
        "PREFECT_SERVER_ANALYTICS_ENABLED": "false",
        "PREFECT_API_URL": api,
    }
    project = tmp_path / "project"
    project.mkdir()
    shutil.copytree(ROOT / "probes", project / "probes")
    shutil.copytree(ROOT / "flows", project / "flows")
    (project / "canaryflow.toml").write_text(
        (ROOT / "canaryflow.toml").read_text(encoding="utf-8"), encoding="utf-8"
    )
    server_log = tmp_path / "server.log"
    with server_log.open("wb") as log:
        server = subprocess.Popen(
            [str(BIN / "prefect"), "server", "start", "--host", "127.0.0.1", "--port", str(port)],
            env={k: v for k, v in env.items() if k != "PREFECT_API_URL"},
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    serve = None
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                with urllib.request.urlopen(f"{api}/health", timeout=2) as resp:
                    if resp.read() == b"true":
                        break
            except OSError:
                pass
            assert time.monotonic() < deadline, server_log.read_text(errors="replace")[-2000:]
            assert server.poll() is None, server_log.read_text(errors="replace")[-2000:]
            time.sleep(0.5)

        serve_log = tmp_path / "serve.log"
        with serve_log.open("wb") as log:
            serve = subprocess.Popen(
                [str(BIN / "canaryflow"), "serve"],
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=project,
            )
        deployments: list = []
        scheduled: list = []
        deadline = time.monotonic() + 150
        canary_runs: list = []
        while time.monotonic() < deadline and not canary_runs:
            time.sleep(3)
            assert serve.poll() is None, serve_log.read_text(errors="replace")[-2000:]
            deployments = _post(f"{api}/deployments/filter", {})  # type: ignore[assignment]
            scheduled = _post(  # type: ignore[assignment]
                f"{api}/flow_runs/filter",
                {"flow_runs": {"state": {"type": {"any_": ["SCHEDULED"]}}}},
            )
            ids = {d["id"] for d in deployments if d["name"] == "hourly-canary"}
            canary_runs = [r for r in scheduled if r["deployment_id"] in ids]
        names = [d["name"] for d in deployments]
        assert "hourly-canary" in names, serve_log.read_text(errors="replace")[-2000:]
        (dep,) = [d for d in deployments if d["name"] == "hourly-canary"]
        crons = [s["schedule"].get("cron") for s in dep["schedules"]]
        assert crons == ["0 * * * *"]
        assert canary_runs, (
            "the scheduler created no SCHEDULED run: cron schedules would never fire"
        )
        # Every registered flow with a schedule gets its runs, and only served deployments do.
        assert {r["deployment_id"] for r in scheduled} <= {d["id"] for d in deployments}
        assert "production-monitor" in names  # every registered flow is served
    finally:
        if serve is not None:
            _stop(serve)  # before the server: serve pauses its deployments through the API
        _stop(server)
    text = server_log.read_text(errors="replace")
    bad = [line for line in text.splitlines() if "ERROR" in line or "Traceback" in line]
    assert not bad, "\n".join(bad[:20])
