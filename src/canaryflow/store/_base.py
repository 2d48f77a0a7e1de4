"""The store's plumbing: transactions, read connections, portable upserts."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import Any, Self

from sqlalchemy import Engine, Table, and_, insert, select, text, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection
from sqlalchemy.exc import IntegrityError, SQLAlchemyError

from canaryflow.errors import StoreError
from canaryflow.store._engine import WRITE_OPTION, redact_url

__all__ = ["StoreBase", "chunks", "upsert"]

IN_CHUNK = 500
"""Ids per ``IN (...)``: SQLite caps bound parameters per statement."""


def upsert(
    conn: Connection,
    table: Table,
    rows: Sequence[Mapping[str, Any]],
    keys: Sequence[str],
    *,
    update_cols: Sequence[str] | None = None,
) -> None:
    """Insert ``rows``, or update the listed columns of the row with the same ``keys``."""
    if not rows:
        return
    cols = list(update_cols) if update_cols is not None else [c for c in rows[0] if c not in keys]
    name = conn.dialect.name
    if name in ("sqlite", "postgresql"):
        stmt = (sqlite.insert if name == "sqlite" else postgresql.insert)(table)
        if cols:
            stmt = stmt.on_conflict_do_update(
                index_elements=list(keys), set_={c: stmt.excluded[c] for c in cols}
            )
        else:
            stmt = stmt.on_conflict_do_nothing(index_elements=list(keys))
        conn.execute(stmt, list(rows))
        return
    # Other dialects: portable, correct inside a transaction, slower.
    for row in rows:
        where = and_(*(table.c[k] == row[k] for k in keys))
        if conn.execute(select(table.c[keys[0]]).where(where)).first() is None:
            conn.execute(insert(table).values(**row))
        elif cols:
            conn.execute(update(table).where(where).values(**{c: row[c] for c in cols}))


def chunks(ids: Sequence[str]) -> Iterator[list[str]]:
    """Distinct ``ids`` in lists small enough for one ``IN (...)``."""
    unique = list(dict.fromkeys(ids))
    for start in range(0, len(unique), IN_CHUNK):
        yield unique[start : start + IN_CHUNK]


class StoreBase:
    """An engine, its write variant and the transaction helpers every part of the store uses."""

    def __init__(self, engine: Engine, url: str) -> None:
        """Wrap an engine whose database is already at the head schema (use ``open``)."""
        self.engine = engine
        self.url = redact_url(url)
        """The store URL without its password (for messages and reports)."""
        self._writer = engine.execution_options(**{WRITE_OPTION: True})

    def close(self) -> None:
        """Release the engine's connections."""
        self.engine.dispose()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({self.url!r})"

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A write transaction: commit when the block ends, roll back if it raises.

        Pass the yielded connection as ``conn=`` to the write methods to make them atomic.
        Inside the block, pass it to *every* write: on SQLite a write without it waits for this
        transaction (busy timeout) and then fails.

        Raises:
            StoreError: the database refused the writes (the transaction was rolled back).
        """
        try:
            with self._writer.begin() as conn:
                yield conn
        except IntegrityError as exc:
            raise StoreError(f"store {self.url!r}: write rejected: {exc.orig}") from exc
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.url!r}: {exc}") from exc

    @staticmethod
    def lock(conn: Connection, name: str) -> None:
        """Serialize writers of ``name`` until ``conn``'s transaction ends.

        SQLite write transactions are already serialized (BEGIN IMMEDIATE); PostgreSQL takes a
        transaction-level advisory lock on the name's hash.
        """
        if conn.dialect.name == "postgresql":
            conn.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})

    @contextmanager
    def _tx(self, conn: Connection | None) -> Iterator[Connection]:
        if conn is not None:
            yield conn
        else:
            with self.transaction() as own:
                yield own

    @contextmanager
    def _read(self) -> Iterator[Connection]:
        try:
            with self.engine.connect() as conn:
                yield conn
        except SQLAlchemyError as exc:
            raise StoreError(f"store {self.url!r}: {exc}") from exc
