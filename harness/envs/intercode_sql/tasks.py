"""InterCodeSQL's tasks (Spider dev questions with gold queries), their splits and their flags.

Data folder (``<shared>/intercode_sql``): ``ic_spider_dev.json`` (1,034 tasks: ``db``, ``query``,
``gold``, ``hardness``) and ``ic_spider_dbs.sql`` (MySQL dump of the 20 databases). Task ids are the
row indices ``"0"`` .. ``"1033"``.

Splits. IPR evaluates on ids 0-199 (its ``test_indices.json``) of its own ``ic_spider_test.json`` and
trains on 1,500 Spider-train tasks that are not obtainable here. Deviation: ``test`` is ids 0-199 of
the Spider-dev file; the other 834 ids, minus the flagged tasks below, are split deterministically
into ``valid`` (100 tasks: the smallest sha256("intercode_sql-split-v1:<id>") values) and ``train``
(the rest). ``test_clean`` is ``test`` without flagged tasks; ``all`` is every id.

Flags (marked, and excluded from ``train``/``valid``/``test_clean``; kept in ``test`` for IPR's ids):
- ``empty_db``: every table of the task's database is empty in the dump (the four wta_1 tables,
  62 tasks): the gold result is empty or all-NULL/zero, so an empty answer scores 1.0 for free.
- ``gold_error``: the gold query is not valid MySQL (MariaDB and MySQL reject it: ``FROM SHOW``,
  a derived table without alias, ``COUNT (*)``); 6 tasks. On the MariaDB engine their reward is
  always 0; the SQLite engine's translator happens to run them.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from harness.envs.shared_data import resolve_data_dir

TASKS_FILE = "ic_spider_dev.json"
DUMP_FILE = "ic_spider_dbs.sql"
SPLITS = ("test", "test_clean", "valid", "train", "all")
SPLIT_VERSION = "intercode_sql-split-v1"
N_TEST = 200  # IPR's test ids 0-199
N_VALID = 100
# Gold queries MySQL/MariaDB reject, by the sha256 of the tasks file they were measured on.
GOLD_ERRORS = {"68c9ecb0": (164, 178, 225, 531, 638, 802)}
FIX = (
    "InterCodeSQL needs ic_spider_dev.json and ic_spider_dbs.sql from InterCode (github.com/princeton-nlp/"
    "intercode, data/sql/spider/); the project's checkout has them in ../shared/data/intercode_sql."
)


@dataclass(frozen=True)
class SqlTask:
    """One question: its database, the gold query and any flags."""

    index: int
    db: str
    question: str
    gold: str
    hardness: str
    flags: tuple[str, ...] = ()


@dataclass(frozen=True)
class SqlData:
    """Tasks, splits and the dump's path for one data folder."""

    folder: Path
    tasks: tuple[SqlTask, ...]
    splits: dict[str, tuple[int, ...]]
    tasks_sha: str

    @property
    def dump(self) -> Path:
        """The MySQL dump of the tasks' databases."""
        return self.folder / DUMP_FILE


def data_folder(data: str | None) -> Path:
    """The InterCodeSQL data folder (see :func:`harness.envs.shared_data.resolve_data_dir`)."""
    return resolve_data_dir("intercode_sql", data, [TASKS_FILE, DUMP_FILE], FIX)


def _split_key(i: int) -> str:
    return hashlib.sha256(f"{SPLIT_VERSION}:{i}".encode()).hexdigest()


def make_splits(n: int, flagged: set[int]) -> dict[str, tuple[int, ...]]:
    """The split scheme described in the module docstring, for ``n`` tasks."""
    test = tuple(range(min(N_TEST, n)))
    rest = sorted((i for i in range(N_TEST, n) if i not in flagged), key=_split_key)
    return {
        "test": test,
        "test_clean": tuple(i for i in test if i not in flagged),
        "valid": tuple(sorted(rest[:N_VALID])),
        "train": tuple(sorted(rest[N_VALID:])),
        "all": tuple(range(n)),
    }


def _empty_databases(dump: Path) -> set[str]:
    """Databases whose tables hold no rows (cheap scan: a table with rows has an INSERT)."""
    from harness.envs.intercode_sql.dump import statements

    current, seen, filled = None, set(), set()
    for stmt in statements(dump.read_text(encoding="utf-8")):
        head = stmt[:40].upper()
        if head.startswith("USE"):
            current = stmt.split("`")[1] if "`" in stmt else stmt.split()[1].rstrip(";")
            seen.add(current)
        elif head.startswith("INSERT") and current is not None:
            filled.add(current)
    return {d.lower() for d in seen - filled}


@lru_cache(maxsize=4)
def load_sql_data(data: str | None = None) -> SqlData:
    """Load (once per process) the tasks, flags and splits of the folder ``data`` (default: shared data)."""
    folder = data_folder(data)
    raw_bytes = (folder / TASKS_FILE).read_bytes()
    sha = hashlib.sha256(raw_bytes).hexdigest()
    try:
        raw = json.loads(raw_bytes)
        empty = _empty_databases(folder / DUMP_FILE)
        gold_errors = set(GOLD_ERRORS.get(sha[:8], ()))
        tasks = []
        for i, r in enumerate(raw):
            flags = (("empty_db",) if r["db"].lower() in empty else ()) + (("gold_error",) if i in gold_errors else ())
            tasks.append(SqlTask(i, r["db"], r["query"], r["gold"], r.get("hardness", ""), flags))
    except (ValueError, KeyError, TypeError) as e:
        raise ValueError(f"{folder / TASKS_FILE} is not an InterCode task file (a JSON list of objects with "
                         f"db, query, gold): {e!r}. {FIX}") from None
    flagged = {t.index for t in tasks if t.flags}
    return SqlData(folder, tuple(tasks), make_splits(len(tasks), flagged), sha)
