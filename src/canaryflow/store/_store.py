"""The results store: runs, item results, baselines, chart states, alerts, incidents.

One ``Store`` per process, holding only an engine: every piece of state lives in the database,
so any number of workers can share one store (DESIGN.md §10). Every write is an upsert on a
natural key, so a rerun overwrites instead of duplicating (§8).

Write methods take ``conn=``: pass the connection of ``store.transaction()`` to make several
writes atomic (items and the production watermark, an alert and its incident). Without it each
call is its own transaction.
"""

from __future__ import annotations

from canaryflow.store._charts import ChartsMixin
from canaryflow.store._engine import create_store_engine, migrate
from canaryflow.store._incidents import IncidentsMixin
from canaryflow.store._judge import JudgeMixin
from canaryflow.store._production import ProductionMixin
from canaryflow.store._runs import RunsMixin

__all__ = ["Store"]


class Store(RunsMixin, ChartsMixin, IncidentsMixin, JudgeMixin, ProductionMixin):
    """The results store (SQLite by default, PostgreSQL or any SQLAlchemy URL by configuration).

    Open it with ``Store.open(url)``; it is a context manager that disposes its engine.
    """

    # -- lifecycle -------------------------------------------------------------------------

    @classmethod
    def open(cls, url: str) -> Store:
        """Open the store at ``url``, creating or upgrading its schema to the newest version.

        A SQLite file's directory is created (the default is ``.canaryflow/canaryflow.db``).

        Raises:
            StoreError: the URL is invalid, its driver is missing, the database cannot be
                reached or its schema is newer than this canaryflow (the URL in the message has
                its password redacted).
        """
        engine = create_store_engine(url)
        try:
            migrate(engine, url)
        except BaseException:
            engine.dispose()
            raise
        return cls(engine, url)
