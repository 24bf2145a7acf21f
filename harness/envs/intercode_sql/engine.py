"""The database engines InterCodeSQL runs queries on, behind one small interface.

``sqlite`` (default) is embedded: an SQLite copy of the Spider dump with a MySQL-like collation and a
shim for MySQL-only statements. ``mariadb`` is a real MySQL-compatible server started by the harness,
for fidelity to InterCode's MySQL. Rewards are computed on whichever engine ran the episode, so the
engine and its settings are part of the environment version and scores from different engines are
never ranked together.

Both engines are read-only for the agent (writes are refused with an error observation) so that
every episode starts from the same database; both stop a query after a fixed budget and cap the rows
returned.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

MAX_ROWS = 100_000  # rows fetched per query; more is an error (protects against runaway joins)
FIXED_CLOCK = "2023-06-01 00:00:00"  # NOW()/CURDATE() answer this on both engines (determinism)
ENGINES = ("sqlite", "mariadb")


@dataclass(frozen=True)
class QueryResult:
    """What one statement produced."""

    rows: list[tuple] | None
    """The result rows; ``None`` for a statement without a result set (e.g. ``USE``) or an error."""
    error: str | None = None
    """The engine's error message (without the "Error executing query:" prefix)."""
    database: str | None = None
    """The current database after the statement (``USE`` changes it)."""


class Engine(Protocol):
    """Runs one SQL statement (MySQL dialect) against one of the dump's databases."""

    name: str
    version: str
    """Everything reward-affecting about the engine, e.g. ``sqlite-3.40.1/mysqlci-v1/shim-v1``."""

    def databases(self) -> list[str]:
        """Names of the databases available."""
        ...

    def execute(self, database: str, sql: str) -> QueryResult:
        """Run ``sql`` with ``database`` as the current database; errors are returned, not raised."""
        ...


def one_line(query: str) -> str:
    """``query`` with its whitespace runs collapsed (only an action's first line is executed)."""
    return " ".join(query.split())
