"""The embedded engine: an SQLite copy of the MySQL dump, queried read-only through the MySQL shim.

The copy is built once per dump (about 2 s) into ``$HARNESS_CACHE/intercode_sql/`` as one SQLite file
per database plus ``schema.json`` (the MySQL column definitions, for ``DESCRIBE``). Text columns use
the MySQL-like ``mysql_ci`` collation; primary-key and indexed columns get indexes, as in MySQL.
Queries are stopped after a fixed number of SQLite VM steps (deterministic, unlike a wall-clock limit).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import sqlite3
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path

from harness.envs.intercode_sql import collation, dialect
from harness.envs.intercode_sql.dump import Column, Table, read_dump
from harness.envs.intercode_sql.engine import MAX_ROWS, QueryResult
from harness.locations import cache_root

BUILD_VERSION = "b1"  # bump when the SQLite copy's layout or types change
OP_BUDGET = 20_000  # progress-handler calls (x 1,000 VM steps) before a query is interrupted
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION, sqlite3.SQLITE_RECURSIVE}
_INTEGER = ("int", "integer", "tinyint", "smallint", "mediumint", "bigint", "year", "bool", "boolean", "bit")
_REAL = ("float", "double", "real")
_NUMERIC = ("decimal", "numeric")
_TEXT = ("char", "varchar", "text", "tinytext", "mediumtext", "longtext", "enum", "set")


def column_sql(c: Column) -> str:
    """The SQLite column definition for a MySQL column (affinity, and ``mysql_ci`` for text)."""
    base = c.mysql_type.split("(")[0].split()[0]
    if base in _INTEGER:
        return f'"{c.name}" INTEGER'
    if base in _REAL:
        return f'"{c.name}" REAL'
    if base in _NUMERIC:
        return f'"{c.name}" NUMERIC'
    if base in _TEXT:
        return f'"{c.name}" TEXT COLLATE {collation.COLLATION}'
    return f'"{c.name}" TEXT'  # dates and times: ISO text compares correctly as binary


def _write_database(path: Path, tables: dict[str, Table]) -> None:
    conn = sqlite3.connect(path)
    collation.register(conn)
    for t in tables.values():
        conn.execute(f'CREATE TABLE "{t.name}" ({", ".join(column_sql(c) for c in t.columns)})')
        if t.rows:
            conn.executemany(f'INSERT INTO "{t.name}" VALUES ({", ".join("?" * len(t.columns))})', t.rows)
        for i, c in enumerate(c for c in t.columns if c.key):
            conn.execute(f'CREATE INDEX "ix_{t.name}_{i}" ON "{t.name}" ("{c.name}")')
    conn.commit()
    conn.close()


def build_sqlite(dump: Path) -> Path:
    """The folder of the SQLite copy of ``dump`` (built on first use, then reused from the cache)."""
    digest = hashlib.sha256(Path(dump).read_bytes()).hexdigest()[:16]
    folder = cache_root() / "intercode_sql" / f"sqlite-{digest}-{BUILD_VERSION}"
    if (folder / "schema.json").exists():
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".building-", dir=folder.parent))
    try:
        databases = read_dump(dump)
        for name, tables in databases.items():
            _write_database(tmp / f"{name}.sqlite", tables)
        schema = {db: {t.name: [asdict(c) for c in t.columns] for t in tables.values()} for db, tables in databases.items()}
        (tmp / "schema.json").write_text(json.dumps(schema, indent=1))
        try:
            os.rename(tmp, folder)
        except OSError:  # another process finished first: use its copy
            if not (folder / "schema.json").exists():
                raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return folder


def _authorize(action: int, *args) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


@dataclass
class SQLiteEngine:
    """Read-only connections (one per database) over the built copy."""

    folder: Path
    schema: dict[str, dict[str, list[Column]]]
    name: str = "sqlite"
    _conns: dict[str, tuple[sqlite3.Connection, object]] = field(default_factory=dict)
    _ops: list[int] = field(default_factory=lambda: [0])

    @classmethod
    def from_dump(cls, dump: Path) -> SQLiteEngine:
        """Build (or reuse) the SQLite copy of ``dump`` and open it."""
        folder = build_sqlite(Path(dump))
        raw = json.loads((folder / "schema.json").read_text())
        schema = {db: {t: [Column(**c) for c in cols] for t, cols in tables.items()} for db, tables in raw.items()}
        return cls(folder, schema)

    @property
    def version(self) -> str:
        """SQLite and sqlglot versions, collation, shim, build and limits (all reward-affecting)."""
        import sqlglot

        return (f"sqlite-{sqlite3.sqlite_version}/{collation.COLLATION_VERSION}/{dialect.SHIM_VERSION}/"
                f"sqlglot-{sqlglot.__version__}/{BUILD_VERSION}/rows{MAX_ROWS}/ops{OP_BUDGET}k")

    def databases(self) -> list[str]:
        """The dump's databases, as named in it."""
        return list(self.schema)

    def canonical(self, database: str | None) -> str | None:
        """The dump's spelling of ``database`` (names are case-insensitive, as with MySQL here)."""
        if database is None:
            return None
        return next((d for d in self.schema if d.lower() == database.lower()), None)

    def _connection(self, database: str):
        if database not in self._conns:
            path = self.folder / f"{database}.sqlite"
            conn = sqlite3.connect(f"file:{path}?mode=ro&immutable=1", uri=True, isolation_level=None, check_same_thread=False)
            rng = collation.register(conn)
            conn.set_authorizer(_authorize)
            conn.set_progress_handler(self._tick, 1000)
            self._conns[database] = (conn, rng)
        return self._conns[database]

    def _tick(self) -> int:
        self._ops[0] += 1
        return int(self._ops[0] > OP_BUDGET)

    def execute(self, database: str, sql: str) -> QueryResult:
        """Run one MySQL statement in ``database``: shim statements answered, queries translated."""
        db = self.canonical(database)
        if db is None:
            return QueryResult(None, f"Unknown database '{database}'", database)
        shim = dialect.classify(sql)
        if shim is not None:
            return self._shim(db, shim)
        try:
            query = dialect.to_sqlite(sql)
        except dialect.TranslationError as e:
            return QueryResult(None, str(e), db)
        conn, rng = self._connection(db)
        rng.seed(0)
        self._ops[0] = 0
        try:
            cur = conn.execute(query)
            if cur.description is None:
                return QueryResult(None, None, db)
            rows = cur.fetchmany(MAX_ROWS + 1)
        except (sqlite3.Error, sqlite3.Warning, OverflowError, ValueError) as e:
            return QueryResult(None, dialect.mysql_error(str(e), db.lower()), db)
        if len(rows) > MAX_ROWS:
            return QueryResult(None, f"the query returned more than {MAX_ROWS} rows", db)
        return QueryResult(rows, None, db)

    def _shim(self, db: str, s: dialect.ShimStatement) -> QueryResult:
        target = self.canonical(s.database) if s.database else db
        if s.database and target is None:
            return QueryResult(None, f"Unknown database '{s.database}'", db)
        if s.kind == "use":
            return QueryResult(None, None, target)
        if s.kind == "show_databases":
            return QueryResult([("information_schema",)] + sorted((d.lower(),) for d in self.schema), None, db)
        tables = self.schema[target]
        if s.kind == "show_tables":
            names = sorted(t.lower() for t in tables)
            if s.pattern is not None:
                names = [n for n in names if dialect.like_to_regex(s.pattern).fullmatch(n)]
            return QueryResult([(n,) for n in names], None, db)
        table = next((t for t in tables if t.lower() == s.name.lower()), None)
        if table is None:
            return QueryResult(None, f"Table '{target.lower()}.{s.name.lower()}' doesn't exist", db)
        rows = [(c.name, c.mysql_type, "YES" if c.nullable else "NO", c.key, c.default, c.extra) for c in tables[table]]
        return QueryResult(rows, None, db)
