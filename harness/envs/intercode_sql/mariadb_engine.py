"""The MariaDB engine: the Spider dump loaded into a harness-started server, queried read-only.

The dump is loaded by the server's admin (root) account; agents' queries run as a user with only
``SELECT``/``SHOW VIEW`` on the dump's databases, so an episode cannot change what the next one
sees. One connection per process serves every episode: before each statement the episode's current
database is selected, the clock is pinned and the random seed reset, so results do not depend on
what other episodes ran.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from harness.envs.intercode_sql.engine import FIXED_CLOCK, MAX_ROWS, QueryResult
from harness.envs.intercode_sql.mariadb_server import SQL_MODE, MariaDBServer, shared_server

AGENT_USER = "agent"
STATEMENT_TIMEOUT_S = 10
ENGINE_RULES = "v1"  # bump when the session settings below change


def _epoch(clock: str) -> int:
    import calendar
    import time

    return calendar.timegm(time.strptime(clock, "%Y-%m-%d %H:%M:%S"))


@dataclass
class MariaDBEngine:
    """Executes statements on the shared server as the read-only agent user."""

    server: MariaDBServer
    database_names: list[str]
    name: str = "mariadb"
    _conn: object = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def version(self) -> str:
        """Server version and the session settings that affect results."""
        mode = "nogroupby" if "ONLY_FULL_GROUP_BY" not in SQL_MODE else "fullgroupby"
        return (f"mariadb-{self.server.version.split('-')[0]}/lctn1/utf8mb4_general_ci/{mode}/bigtables/"
                f"rows{MAX_ROWS}/{ENGINE_RULES}")

    @classmethod
    def from_dump(cls, dump: Path) -> MariaDBEngine:
        """Start (or reuse) the process's server, load ``dump`` once and create the agent user."""
        server = shared_server()
        key = str(Path(dump).resolve())
        if key not in server.loaded:
            server.loaded[key] = _load_dump(server, Path(dump))
        return cls(server, server.loaded[key])

    def databases(self) -> list[str]:
        """The dump's databases (lower-cased by ``lower_case_table_names=1``)."""
        return list(self.database_names)

    def _connection(self):
        if self._conn is None or not self._conn.open:
            self._conn = self.server.connect(user=AGENT_USER)
            with self._conn.cursor() as cur:
                cur.execute(f"SET SESSION max_statement_time = {STATEMENT_TIMEOUT_S}")
                cur.execute(f"SET SESSION timestamp = {_epoch(FIXED_CLOCK)}")
                # In-memory temporary tables made the winner among tied rows (GROUP BY ... ORDER BY
                # count(*) LIMIT 1) depend on what the session ran before; on-disk ones do not.
                cur.execute("SET SESSION big_tables = 1")
        return self._conn

    def execute(self, database: str, sql: str) -> QueryResult:
        """Run ``sql`` in ``database``; the rows come back as the MySQL driver returns them."""
        import pymysql

        with self._lock:
            conn = self._connection()
            try:
                with conn.cursor() as cur:
                    cur.execute(f"USE `{database}`")
                    cur.execute("SET SESSION rand_seed1 = 1, rand_seed2 = 2")
                    cur.execute(sql)
                    rows = None
                    if cur.description is not None:
                        rows = cur.fetchmany(MAX_ROWS + 1)
                        if len(rows) > MAX_ROWS:
                            return QueryResult(None, f"the query returned more than {MAX_ROWS} rows", database)
                        rows = [tuple(r) for r in rows]
                    cur.execute("SELECT DATABASE()")
                    current = cur.fetchone()[0] or database
                return QueryResult(rows, None, current)
            except pymysql.err.Error as e:
                message = e.args[1] if len(e.args) > 1 else str(e)
                if isinstance(e, pymysql.err.OperationalError) and e.args and e.args[0] in (2006, 2013):
                    self._conn = None  # connection lost: reconnect on the next statement
                return QueryResult(None, str(message), database)


def _load_dump(server: MariaDBServer, dump: Path) -> list[str]:
    """Load ``dump`` as root (one multi-statement batch) and grant the agent read-only access."""
    from pymysql.constants import CLIENT

    import pymysql

    text = dump.read_text(encoding="utf-8")
    conn = pymysql.connect(unix_socket=server.socket, user="root", charset="utf8mb4", autocommit=True,
                           client_flag=CLIENT.MULTI_STATEMENTS)
    try:
        with conn.cursor() as cur:
            cur.execute("SHOW DATABASES")
            before = {r[0] for r in cur.fetchall()}
            cur.execute(text)
            while cur.nextset():
                pass
            cur.execute("SHOW DATABASES")
            names = sorted({r[0] for r in cur.fetchall()} - before)
            for name in names:  # freeze optimizer statistics now (see SERVER_OPTIONS)
                cur.execute("SELECT table_name FROM information_schema.tables WHERE table_schema = %s", (name,))
                tables = ", ".join(f"`{name}`.`{t}`" for (t,) in cur.fetchall())
                if tables:
                    cur.execute(f"ANALYZE TABLE {tables}")
                    cur.fetchall()
            cur.execute(f"CREATE USER IF NOT EXISTS '{AGENT_USER}'@'localhost'")
            for name in names:
                cur.execute(f"GRANT SELECT, SHOW VIEW ON `{name}`.* TO '{AGENT_USER}'@'localhost'")
    except pymysql.err.Error as e:
        raise RuntimeError(f"loading {dump} into MariaDB failed: {e}") from None
    finally:
        conn.close()
    return names
