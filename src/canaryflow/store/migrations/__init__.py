"""Alembic migrations of the results store, run in code by ``Store.open`` (no alembic.ini).

To add a revision: write ``versions/NNNN_<what>.py`` by hand (``down_revision`` = the previous
one), update ``_tables.py`` to the new head and ``HEAD_REVISION``; ``tests/store`` checks that
the migrated schema equals the tables.
"""
