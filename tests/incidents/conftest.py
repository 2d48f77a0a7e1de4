"""A stand-in ``canaryflow golden add-from-incident`` for runbooks that cite it.

The command is built on another branch; runbooks cite it only when the running CLI has it
(looked up at render time). Tests of the cited form register this stand-in on the real app.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

import pytest
import typer

from canaryflow.cli import app
from canaryflow.incidents._runbook import cli_command


@pytest.fixture
def golden_cli() -> Iterator[None]:
    """Register ``golden add-from-incident ID --set NAME`` for the duration of a test."""
    if cli_command("golden", "add-from-incident") is not None:
        yield  # the real command is merged: nothing to stand in for
        return
    golden = typer.Typer()

    @golden.command("add-from-incident")
    def add_from_incident(
        incident_id: str, set_: Annotated[str, typer.Option("--set")] = "regressions"
    ) -> None:
        """Stand-in."""

    app.add_typer(golden, name="golden")
    try:
        yield
    finally:
        app.registered_groups.pop()


@pytest.fixture
def no_golden_cli() -> None:
    """Skip when the real ``golden add-from-incident`` exists (the by-hand wording is moot)."""
    if cli_command("golden", "add-from-incident") is not None:
        pytest.skip("canaryflow golden add-from-incident exists in this build")
