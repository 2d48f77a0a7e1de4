"""Schema versioning: a fresh database equals the tables, an old one is upgraded in place."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect

from canaryflow.errors import StoreError
from canaryflow.store import HEAD_REVISION, Store
from canaryflow.store._engine import create_store_engine, current_revision, migrate
from canaryflow.store._tables import VERSION_TABLE, metadata

T0 = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)


def test_migrated_schema_equals_the_tables(store: Store) -> None:
    with store.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"version_table": VERSION_TABLE})
        diffs = compare_metadata(context, metadata)
        assert current_revision(conn) == HEAD_REVISION
    assert diffs == []


def test_open_twice_is_a_no_op(store_url: str) -> None:
    Store.open(store_url).close()
    with Store.open(store_url) as s, s.engine.connect() as conn:
        assert current_revision(conn) == HEAD_REVISION


def _v1_database(url: str) -> None:
    """A database at schema 0001 holding one run, its items and an open incident."""
    engine = create_store_engine(url)
    migrate(engine, url, "0001")
    with engine.begin() as conn:
        assert current_revision(conn) == "0001"
        assert "extra" not in {c["name"] for c in inspect(conn).get_columns("item_results")}
        conn.execute(
            metadata.tables["runs"]
            .insert()
            .values(
                run_id="old-run",
                flow="canary",
                model="m1",
                config_hash="h1",
                as_of=T0,
                started_at=T0,
                status="completed",
                summary={"n": 2},
            )
        )
        for item_id, passed in (("p1", True), ("p2", False)):
            conn.execute(
                metadata.tables["item_results"]
                .insert()
                .values(
                    run_id="old-run",
                    item_id=item_id,
                    attempt=0,
                    flow="canary",
                    model="m1",
                    subject="dates_eu",
                    passed=passed,
                    output="x",
                    normalized_output="x",
                    checks=[],
                    finish_reason="stop",
                    input_tokens=1,
                    output_tokens=2,
                    created_at=T0,
                )
            )
        conn.execute(
            metadata.tables["incidents"]
            .insert()
            .values(
                incident_id="INC-old",
                flow="canary",
                model="m1",
                subject="dates_eu",
                metric_class="correctness",
                severity="high",
                state="open",
                resolution_note="",
                title="old",
                opened_at=T0,
                updated_at=T0,
                alerts=[],
                run_ids=["old-run"],
            )
        )
    engine.dispose()


def test_upgrade_from_version_1_keeps_data(store_url: str) -> None:
    _v1_database(store_url)
    with Store.open(store_url) as s:
        with s.engine.connect() as conn:
            assert current_revision(conn) == HEAD_REVISION
            insp = inspect(conn)
            assert "extra" in {c["name"] for c in insp.get_columns("item_results")}
            assert {"sink_results", "history"} <= {c["name"] for c in insp.get_columns("incidents")}
            assert "ix_runs_flow_model_as_of" in {i["name"] for i in insp.get_indexes("runs")}
        old = s.get_run("old-run")
        assert old is not None and old.summary == {"n": 2} and old.as_of == T0
        items = s.items_for_runs(["old-run"])
        assert [(i.item_id, i.passed, i.extra) for i in items] == [
            ("p1", True, {}),
            ("p2", False, {}),
        ]
        assert s.get_incident("INC-old").run_ids == ("old-run",)
        assert s.sink_results("INC-old") == {} and s.incident_history("INC-old") == []
        # The new schema is usable on the old rows.
        s.record_sink_result("INC-old", "file", location="x.md")
        assert s.open_incident_run_ids("canary", "m1") == {"old-run"}


def test_a_newer_schema_is_refused(store_url: str) -> None:
    Store.open(store_url).close()
    engine = create_store_engine(store_url)
    with engine.begin() as conn:
        conn.exec_driver_sql("UPDATE schema_version SET version_num = '9999'")
    engine.dispose()
    with pytest.raises(StoreError, match="newer than this canaryflow"):
        Store.open(store_url)


def test_unreachable_database_error_redacts_the_password() -> None:
    pytest.importorskip("psycopg")
    url = "postgresql+psycopg://cf:s3cr3t-pw@127.0.0.1:1/canaryflow?connect_timeout=2"
    with pytest.raises(StoreError) as info:
        Store.open(url)
    message = str(info.value)
    assert "s3cr3t-pw" not in message
    assert "cf:***@127.0.0.1:1/canaryflow" in message


def test_bad_urls_are_store_errors() -> None:
    with pytest.raises(StoreError, match="invalid store URL"):
        Store.open("not a url")
    with pytest.raises(StoreError, match="unknown database dialect"):
        Store.open("nosuchdb://u:pw@h/db")
    try:
        import pg8000  # noqa: F401
    except ImportError:
        with pytest.raises(StoreError, match="'pg8000' is not installed") as info:
            Store.open("postgresql+pg8000://u:hunter2@h/db")
        assert "hunter2" not in str(info.value)
