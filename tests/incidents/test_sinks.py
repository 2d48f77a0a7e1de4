"""Sinks: files (idempotent), Slack-compatible webhook and GitHub issues against a local server."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from canaryflow.incidents._runbook import RunbookContext
from canaryflow.incidents._sinks import (
    FileSink,
    GitHubIssueSink,
    Sink,
    SinkError,
    WebhookSink,
    incident_filename,
)
from canaryflow.records import Alert, Incident
from canaryflow.reports import Example

T0 = datetime(2024, 4, 3, 10, tzinfo=UTC)
TOKEN = "ghp_" + "Z9y8X7w6" * 5


def _alert() -> Alert:
    return Alert(
        flow="canary",
        model="support-bot",
        subject="dates_eu",
        metric="pass_rate",
        metric_class="correctness",
        baseline_value=1.0,
        current_value=0.7,
        test="fisher_one_sided+BH",
        p_value=0.0012,
        baseline_n=240,
        first_window=T0,
        message="dates_eu <pass> rate & dropped",
    )


def _incident(state: str = "open", title: str = "dates_eu pass rate 1.00 -> 0.70") -> Incident:
    return Incident(
        incident_id="INC-20240403-0001",
        flow="canary",
        model="support-bot",
        subject="dates_eu",
        metric_class="correctness",
        severity="high",
        state=state,
        title=title,
        opened_at=T0,
        updated_at=T0,
        alerts=(_alert(),),
        run_ids=("run-42",),
    )


def _ctx(incident: Incident, alerts: object) -> RunbookContext:
    return RunbookContext(
        examples=(
            Example(
                item_id="dates-eu-03",
                input="mail jane@example.com 03/04/2024",
                expected="2024-04-03",
                output="2024-03-04",
            ),
        ),
        pinned_model="m-latest",
        last_good_model="m-2024-01-01",
        chart_path=str(Path("charts/e.png").resolve()),
    )


# --- local HTTP server -----------------------------------------------------------------------


@dataclass
class Recorded:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class Server:
    url: str
    requests: list[Recorded] = field(default_factory=list)
    handler: Callable[[Recorded], tuple[int, Any]] = lambda r: (200, {"ok": True})


@pytest.fixture
def server() -> Iterator[Server]:
    state = Server(url="")

    class Handler(BaseHTTPRequestHandler):
        def _serve(self) -> None:
            n = int(self.headers.get("Content-Length") or 0)
            raw = self.rfile.read(n) if n else b""
            rec = Recorded(
                self.command,
                self.path,
                {k.lower(): v for k, v in self.headers.items()},
                json.loads(raw) if raw else None,
            )
            state.requests.append(rec)
            status, payload = state.handler(rec)
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        do_GET = do_POST = do_PATCH = _serve  # noqa: N815

        def log_message(self, *args: object) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    state.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    try:
        yield state
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


# --- file sink -------------------------------------------------------------------------------


def test_file_sink_writes_and_overwrites(tmp_path: Path, golden_cli: None) -> None:
    sink = FileSink(tmp_path / "incidents", context_provider=_ctx)
    assert isinstance(sink, Sink) and sink.name == "file"
    first = sink.publish(_incident(), [_alert()])
    assert first == str(tmp_path / "incidents" / "INC-20240403-0001.md")
    md = Path(first).read_text()
    assert "dates-eu-03" in md and "jane@example.com" not in md
    assert 'model = "m-2024-01-01"' in md
    assert "canaryflow golden add-from-incident INC-20240403-0001" in md
    data = json.loads((tmp_path / "incidents" / "INC-20240403-0001.json").read_text())
    assert data["incident"]["incident_id"] == "INC-20240403-0001"
    assert data["runbook"]["flagged"][0]["item_id"] == "dates-eu-03"
    # same incident again: same bytes; updated incident: same files, new content
    assert sink.publish(_incident(), [_alert()]) == first
    assert Path(first).read_text() == md
    sink.publish(_incident(state="resolved"), [_alert()])
    assert "Status: RESOLVED" in Path(first).read_text()
    assert sorted(p.name for p in (tmp_path / "incidents").iterdir()) == [
        "INC-20240403-0001.json",
        "INC-20240403-0001.md",
    ]


def test_file_sink_without_context_and_hostile_id(tmp_path: Path) -> None:
    inc = _incident().model_copy(update={"incident_id": "../../etc/passwd"})
    out = FileSink(tmp_path).publish(inc, [])
    assert out is not None and Path(out).parent == tmp_path
    assert incident_filename("INC-1/../x") == "INC-1-..-x"
    with pytest.raises(SinkError):
        incident_filename("///")


def test_file_sink_error_is_sink_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    with pytest.raises(SinkError, match="file sink"):
        FileSink(blocker / "sub").publish(_incident(), [_alert()])


# --- webhook ---------------------------------------------------------------------------------


def test_webhook_posts_slack_payload(server: Server, golden_cli: None) -> None:
    sink = WebhookSink(f"{server.url}/services/T000/B000/XXXXSECRET", context_provider=_ctx)
    assert isinstance(sink, Sink)
    inc = _incident(title="dates_eu <pass> rate & dropped")
    assert sink.publish(inc, [_alert()]) == "webhook:127.0.0.1"
    (req,) = server.requests
    assert req.method == "POST" and req.path == "/services/T000/B000/XXXXSECRET"
    assert req.headers["content-type"] == "application/json"
    assert req.body["text"].startswith("[HIGH] canaryflow INC-20240403-0001")
    blocks = req.body["blocks"]
    assert blocks[0]["type"] == "header"
    text = json.dumps(blocks, ensure_ascii=False)
    assert "&lt;pass&gt; rate &amp; dropped" in req.body["text"]
    assert "1.00 → 0.70" in text and "p = 0.0012" in text
    assert "dates-eu-03" in text
    assert "canaryflow golden add-from-incident" in text
    assert "XXXXSECRET" not in repr(sink)


def test_webhook_retries_then_fails_without_leaking_url(server: Server) -> None:
    server.handler = lambda r: (503, {"message": "busy"})
    sink = WebhookSink(f"{server.url}/hooks/SUPERSECRET", retries=2, timeout=5)
    with pytest.raises(SinkError) as exc:
        sink.publish(_incident(), [_alert()])
    assert len(server.requests) == 3
    assert "SUPERSECRET" not in str(exc.value) and "HTTP 503" in str(exc.value)


def test_webhook_does_not_retry_client_errors(server: Server) -> None:
    server.handler = lambda r: (400, {"message": "invalid_payload"})
    with pytest.raises(SinkError, match="HTTP 400: invalid_payload"):
        WebhookSink(f"{server.url}/x", retries=3).publish(_incident(), [])
    assert len(server.requests) == 1


def test_webhook_connection_refused() -> None:
    sink = WebhookSink("http://127.0.0.1:9/hook/SECRET", retries=0, timeout=2)
    with pytest.raises(SinkError) as exc:
        sink.publish(_incident(), [])
    assert "SECRET" not in str(exc.value)
    with pytest.raises(SinkError):
        WebhookSink("file:///etc/passwd")


# --- GitHub issues ---------------------------------------------------------------------------


def _fake_github(server: Server) -> list[dict[str, Any]]:
    issues: list[dict[str, Any]] = []

    def handle(req: Recorded) -> tuple[int, Any]:
        if req.headers.get("authorization") != f"Bearer {TOKEN}":
            return 401, {"message": "Bad credentials"}
        if req.method == "GET" and req.path.startswith("/repos/acme/app/issues?"):
            assert "labels=canaryflow" in req.path and "state=all" in req.path
            return 200, issues
        if req.method == "POST" and req.path == "/repos/acme/app/issues":
            n = len(issues) + 1
            issue = {**req.body, "number": n, "state": "open",
                     "html_url": f"https://github.com/acme/app/issues/{n}"}  # fmt: skip
            issues.append(issue)
            return 201, issue
        if req.method == "PATCH" and req.path.startswith("/repos/acme/app/issues/"):
            n = int(req.path.rsplit("/", 1)[1])
            issues[n - 1].update(req.body)
            return 200, issues[n - 1]
        return 404, {"message": "Not Found"}

    server.handler = handle
    return issues


def test_github_creates_then_updates_issue(server: Server) -> None:
    issues = _fake_github(server)
    sink = GitHubIssueSink("acme/app", TOKEN, api_url=server.url, context_provider=_ctx)
    assert isinstance(sink, Sink)
    url = sink.publish(_incident(), [_alert()])
    assert url == "https://github.com/acme/app/issues/1"
    assert len(issues) == 1
    issue = issues[0]
    assert issue["title"].startswith("[high] INC-20240403-0001:")
    assert issue["labels"] == ["canaryflow", "incident"]
    assert "<!-- canaryflow-incident: INC-20240403-0001 -->" in issue["body"]
    assert "dates-eu-03" in issue["body"] and len(issue["body"]) < 65_536
    post = next(r for r in server.requests if r.method == "POST")
    assert post.headers["accept"] == "application/vnd.github+json"
    assert post.headers["x-github-api-version"] == "2022-11-28"
    # update: same issue edited, closed when resolved
    url2 = sink.publish(_incident(state="resolved", title="updated title"), [_alert()])
    assert url2 == url and len(issues) == 1
    assert issues[0]["state"] == "closed" and "updated title" in issues[0]["title"]
    assert [r.method for r in server.requests] == ["GET", "POST", "GET", "PATCH"]


def test_github_errors_never_contain_the_token(server: Server) -> None:
    _fake_github(server)
    sink = GitHubIssueSink("acme/app", TOKEN + "wrong", api_url=server.url, retries=0)
    with pytest.raises(SinkError) as exc:
        sink.publish(_incident(), [])
    message = str(exc.value)
    assert "HTTP 401: Bad credentials" in message
    assert TOKEN not in message and "Z9y8X7w6" not in message
    assert TOKEN not in repr(sink)


def test_github_rejects_bad_config() -> None:
    with pytest.raises(SinkError):
        GitHubIssueSink("not a repo", TOKEN)
    with pytest.raises(SinkError, match="empty token"):
        GitHubIssueSink("acme/app", "")


def test_file_sink_accepts_one_argument_provider_returning_a_dict(tmp_path: Path) -> None:
    ctx = {"pinned_model": "m-1", "failing_examples": [{"item_id": "x-1", "family": "f"}]}
    out = FileSink(tmp_path, context_provider=lambda _inc: ctx).publish(_incident(), [_alert()])
    md = Path(out or "").read_text()
    assert "x-1 (f)" in md and "Pinned model id in canaryflow.toml: m-1" in md
