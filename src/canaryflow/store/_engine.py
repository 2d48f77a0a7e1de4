"""Engines for the store: SQLite pragmas, transaction begin modes, URL redaction, migrations.

SQLite notes (why the event hooks):
- ``foreign_keys`` is off by default and per connection, so it is set on every connect.
- WAL lets readers run while one writer writes (``canaryflow serve`` and a CLI at once).
- Python's sqlite3 module starts transactions lazily, only before INSERT/UPDATE/DELETE, so a
  read-then-write (next baseline version) would not be atomic. We take over: the driver is put
  in autocommit and SQLAlchemy's ``begin`` emits ``BEGIN`` ourselves; write transactions use
  ``BEGIN IMMEDIATE`` so they queue on the busy timeout instead of failing when two writers meet.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event, inspect
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import ArgumentError, NoSuchModuleError, SQLAlchemyError
from sqlalchemy.pool import StaticPool

from canaryflow.errors import StoreError
from canaryflow.store._tables import HEAD_REVISION, VERSION_TABLE

__all__ = ["BUSY_TIMEOUT_MS", "WRITE_OPTION", "create_store_engine", "migrate", "redact_url"]

BUSY_TIMEOUT_MS = 30_000
"""How long an SQLite writer waits for another writer before giving up."""

WRITE_OPTION = "canaryflow_write"
"""Execution option marking a connection that will write (``BEGIN IMMEDIATE`` on SQLite)."""

_MIGRATIONS = "canaryflow.store:migrations"
_PASSWORD_IN_URL = re.compile(r"(://[^:/@\s]*:)[^@\s]*@")


def redact_url(url: str) -> str:
    """``url`` with any password replaced by ``***`` (safe for messages and logs)."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return _PASSWORD_IN_URL.sub(r"\1***@", url)


def _scrub(message: str, url: str) -> str:
    """Remove the URL's password from a driver message, should a driver echo it."""
    try:
        password = make_url(url).password
    except ArgumentError:
        password = None
    if password:
        message = message.replace(str(password), "***")
    return _PASSWORD_IN_URL.sub(r"\1***@", message)


def _install_sqlite_hooks(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves (see module doc)
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
            if engine.url.database not in (None, "", ":memory:"):
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=NORMAL")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Connection) -> None:
        immediate = conn.get_execution_options().get(WRITE_OPTION, False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_store_engine(url: str) -> Engine:
    """An engine for ``url``; for a SQLite file, its directory is created.

    Raises:
        StoreError: the URL is malformed or its driver is not installed.
    """
    safe = redact_url(url)
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        raise StoreError(f"invalid store URL {safe!r}: {exc}") from None
    kwargs: dict[str, Any] = {}
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        database = parsed.database
        if database in (None, "", ":memory:"):
            # One shared connection, or every checkout would see a new empty database.
            kwargs.update(poolclass=StaticPool, connect_args={"check_same_thread": False})
        else:
            try:
                Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)
            except OSError as exc:
                raise StoreError(f"cannot create the directory for {safe!r}: {exc}") from None
            kwargs["connect_args"] = {"timeout": BUSY_TIMEOUT_MS / 1000}
    else:
        kwargs["pool_pre_ping"] = True
    try:
        engine = create_engine(parsed, **kwargs)
    except NoSuchModuleError as exc:
        raise StoreError(f"store URL {safe!r}: unknown database dialect ({exc})") from None
    except ModuleNotFoundError as exc:
        hint = " (pip install 'canaryflow[postgres]')" if backend == "postgresql" else ""
        raise StoreError(
            f"store URL {safe!r}: the database driver {exc.name!r} is not installed{hint}"
        ) from None
    if backend == "sqlite":
        _install_sqlite_hooks(engine)
    return engine


def _alembic_config(connection: Connection) -> AlembicConfig:
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", _MIGRATIONS)
    cfg.attributes["connection"] = connection
    return cfg


def current_revision(connection: Connection) -> str | None:
    """The schema revision recorded in the database (None for an empty database)."""
    if not inspect(connection).has_table(VERSION_TABLE):
        return None
    row = connection.exec_driver_sql(f"SELECT version_num FROM {VERSION_TABLE}").first()
    return None if row is None else str(row[0])


def migrate(engine: Engine, url: str, revision: str = "head") -> None:
    """Upgrade the database to ``revision`` (head by default), in one transaction.

    Raises:
        StoreError: the database cannot be reached, or its schema is newer than this
            canaryflow knows (a newer version wrote it), or a migration failed.
    """
    safe = redact_url(url)
    try:
        with engine.execution_options(**{WRITE_OPTION: True}).begin() as conn:
            found = current_revision(conn)
            known = {
                s.revision
                for s in ScriptDirectory.from_config(_alembic_config(conn)).walk_revisions()
            }
            if found is not None and found not in known:
                raise StoreError(
                    f"store {safe!r} has schema version {found!r}, newer than this canaryflow "
                    f"knows (head {HEAD_REVISION!r}); upgrade canaryflow or use another store"
                )
            command.upgrade(_alembic_config(conn), revision)
    except StoreError:
        raise
    except SQLAlchemyError as exc:
        detail = _scrub(str(getattr(exc, "orig", None) or exc).strip().splitlines()[0], url)
        raise StoreError(f"cannot open store {safe!r}: {detail}") from None
