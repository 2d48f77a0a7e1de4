"""SQLite specifics: the default location, WAL, foreign keys, concurrent writers."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from canaryflow.config import StoreConfig
from canaryflow.records import Baseline
from canaryflow.store import Store, redact_url


def test_default_url_creates_the_canaryflow_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    with Store.open(StoreConfig().url) as s:
        assert s.get_run("x") is None
    assert (tmp_path / ".canaryflow" / "canaryflow.db").is_file()


def test_wal_foreign_keys_and_busy_timeout_are_on(tmp_path: Path) -> None:
    with Store.open(f"sqlite:///{tmp_path}/cf.db") as s, s.engine.connect() as conn:
        assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
        assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() >= 5000


def test_in_memory_store_works(tmp_path: Path) -> None:
    with Store.open("sqlite://") as s:
        s.set_watermark("a", "1")
        assert s.get_watermark("a") == "1"


def test_concurrent_writers_get_distinct_baseline_versions(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/cf.db"
    Store.open(url).close()
    stores = [Store.open(url) for _ in range(3)]
    errors: list[BaseException] = []

    def promote(s: Store) -> None:
        try:
            for _ in range(8):
                s.save_baseline(Baseline(flow="canary", model="m", subject="s", metric="p", n=1))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=promote, args=(s,)) for s in stores]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for s in stores:
        s.close()
    assert errors == []
    with Store.open(url) as s:
        all_versions = s.list_baselines(include_inactive=True)
        assert sorted(b.baseline_version for b in all_versions) == list(range(1, 25))
        assert [b.baseline_version for b in s.list_baselines()] == [24]


def test_redact_url() -> None:
    assert redact_url("postgresql://u:pw@h:5432/db") == "postgresql://u:***@h:5432/db"
    assert redact_url("sqlite:///x.db") == "sqlite:///x.db"
    assert "pw" not in redact_url("weird url://u:pw@h")
