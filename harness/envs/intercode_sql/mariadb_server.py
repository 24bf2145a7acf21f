"""A private MariaDB server started by the harness: temporary datadir, unix socket, no network.

InterCode runs MySQL 8 in Docker; no Docker daemon runs on these machines, so the harness starts
Debian's MariaDB (``apt-get install mariadb-server``) itself, as InterCode's container is
configured: ``lower_case_table_names=1`` (else 169 gold queries fail on table-name case) and the
Spider dump's utf8mb4_general_ci collation. The server lives as long as the Python process (it is
stopped at exit and, on Linux, killed with its parent) and its datadir is deleted afterwards.
"""

from __future__ import annotations

import atexit
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

# Reward-affecting server settings; all of them are part of the environment version.
SQL_MODE = "STRICT_TRANS_TABLES,ERROR_FOR_DIVISION_BY_ZERO,NO_AUTO_CREATE_USER,NO_ENGINE_SUBSTITUTION"
SERVER_OPTIONS = (
    "--lower-case-table-names=1",
    "--character-set-server=utf8mb4",
    "--collation-server=utf8mb4_general_ci",
    "--default-time-zone=+00:00",
    f"--sql-mode={SQL_MODE}",
    # Statistics are computed once, right after the dump is loaded (ANALYZE TABLE), and then frozen:
    # background re-computation changes query plans, and with them which of tied rows LIMIT returns.
    "--innodb-stats-auto-recalc=OFF",
    "--innodb-stats-persistent=ON",
)
INSTALL_HINT = (
    "Install MariaDB's server (Debian/Ubuntu: `sudo apt-get install -y mariadb-server`; it is not started "
    "as a service, the harness starts its own) or use the embedded engine (engine='sqlite', the default)."
)


class MariaDBUnavailable(RuntimeError):
    """MariaDB's binaries are missing or the server would not start."""


def find_binaries() -> tuple[str, str]:
    """Paths of ``mariadbd`` and ``mariadb-install-db``; raises :class:`MariaDBUnavailable` if absent."""
    search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/local/sbin", "/usr/bin"])
    server = shutil.which("mariadbd", path=search) or shutil.which("mysqld", path=search)
    installer = shutil.which("mariadb-install-db", path=search) or shutil.which("mysql_install_db", path=search)
    if not server or not installer:
        raise MariaDBUnavailable(f"MariaDB is not installed (no mariadbd / mariadb-install-db on PATH or in /usr/sbin). {INSTALL_HINT}")
    return server, installer


def server_version() -> str:
    """The installed server's version, e.g. ``10.11.19-MariaDB-0+deb12u1``."""
    server, _ = find_binaries()
    out = subprocess.run([server, "--version"], capture_output=True, text=True, check=True).stdout
    # "mariadbd  Ver 10.11.19-MariaDB-0+deb12u1 for debian-linux-gnu on x86_64 (Debian 12)"
    parts = out.split()
    return parts[parts.index("Ver") + 1] if "Ver" in parts else out.strip()


def _die_with_parent() -> None:
    # Linux: have the kernel kill the server if the Python process dies without cleaning up.
    if sys.platform.startswith("linux"):
        import ctypes

        ctypes.CDLL("libc.so.6", use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@dataclass
class MariaDBServer:
    """A running server: its process, socket and datadir."""

    process: subprocess.Popen
    socket: str
    root: Path
    version: str
    loaded: dict[str, list[str]] = field(default_factory=dict)
    """Dump path -> database names, for the dumps loaded into this server."""

    def connect(self, user: str = "root", database: str | None = None):
        """A new PyMySQL connection over the unix socket (utf8mb4, autocommit)."""
        import pymysql

        return pymysql.connect(
            unix_socket=self.socket, user=user, database=database, charset="utf8mb4", autocommit=True
        )

    def stop(self) -> None:
        """Shut the server down and delete its datadir (idempotent)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        shutil.rmtree(self.root, ignore_errors=True)


def start_server(timeout_s: float = 60.0) -> MariaDBServer:
    """Initialise a fresh datadir in a temp folder and start ``mariadbd`` on a unix socket there."""
    server, installer = find_binaries()
    root = Path(tempfile.mkdtemp(prefix="harness-mariadb-"))
    datadir, sock = root / "data", root / "mysqld.sock"
    user = ["--user=root"] if os.geteuid() == 0 else []  # mariadbd refuses to run as root without it
    # A throwaway server: no durability needed, so no fsync on commit and no doublewrite buffer.
    common = ["--no-defaults", f"--datadir={datadir}", "--innodb-log-file-size=16M", "--innodb-doublewrite=0",
              "--innodb-flush-log-at-trx-commit=0", *user]
    init = subprocess.run(
        [installer, *common, "--auth-root-authentication-method=normal", "--skip-test-db", "--skip-name-resolve"],
        capture_output=True,
        text=True,
    )
    if init.returncode != 0:
        shutil.rmtree(root, ignore_errors=True)
        raise MariaDBUnavailable(f"mariadb-install-db failed in {datadir}: {init.stderr.strip()[-800:]}")
    log = root / "error.log"
    proc = subprocess.Popen(
        [server, *common, f"--socket={sock}", "--skip-networking", f"--log-error={log}",
         f"--pid-file={root / 'mysqld.pid'}", "--innodb-buffer-pool-size=64M", "--skip-log-bin", *SERVER_OPTIONS],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        preexec_fn=_die_with_parent,
    )
    instance = MariaDBServer(proc, str(sock), root, server_version())
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            instance.connect().close()
            return instance
        except Exception as e:  # noqa: BLE001 - any failure means "not up yet" until the deadline
            if proc.poll() is not None or time.monotonic() > deadline:
                tail = log.read_text(errors="replace")[-1500:] if log.exists() else ""
                instance.stop()
                raise MariaDBUnavailable(f"mariadbd did not start ({e}); its log ends:\n{tail}") from None
            time.sleep(0.1)


_SERVER: MariaDBServer | None = None


def shared_server() -> MariaDBServer:
    """The process's server, started on first use and stopped at exit."""
    global _SERVER
    if _SERVER is None or _SERVER.process.poll() is not None:
        _SERVER = start_server()
        atexit.register(_SERVER.stop)
    return _SERVER
