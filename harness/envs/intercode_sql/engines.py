"""The InterCodeSQL engines by name: ``sqlite`` (embedded, the default) and ``mariadb`` (a server the
harness starts), each imported only when used."""

from __future__ import annotations

from pathlib import Path

from harness.envs.intercode_sql.engine import ENGINES, Engine


def make_engine(name: str, dump: Path) -> Engine:
    """The engine ``name`` (``sqlite`` or ``mariadb``) loaded with the MySQL dump at ``dump``."""
    if name == "sqlite":
        from harness.envs.intercode_sql.sqlite_engine import SQLiteEngine

        return SQLiteEngine.from_dump(dump)
    if name == "mariadb":
        from harness.envs.intercode_sql.mariadb_engine import MariaDBEngine

        return MariaDBEngine.from_dump(dump)
    raise ValueError(f"unknown InterCodeSQL engine '{name}'; choose one of: {', '.join(ENGINES)}")
