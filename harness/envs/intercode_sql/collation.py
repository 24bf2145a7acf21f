"""A MySQL-like text collation and MySQL's scalar functions for SQLite.

MySQL's ``utf8mb4_general_ci`` (the Spider dump's collation) compares text case-insensitively,
accent-insensitively and ignoring trailing spaces, and its ``REGEXP`` is case-insensitive. SQLite's
built-in collations do none of this, so queries such as ``WHERE Language = 'english'`` would return
other rows. Text columns of the SQLite copy are declared ``COLLATE mysql_ci`` (below), and the
functions MySQL has but SQLite lacks are registered on every connection.
"""

from __future__ import annotations

import random
import re
import sqlite3
import unicodedata
from functools import lru_cache

from harness.envs.intercode_sql.engine import FIXED_CLOCK

COLLATION = "mysql_ci"
COLLATION_VERSION = "mysqlci-v1"  # bump when sort_key or the functions below change


@lru_cache(maxsize=200_000)
def sort_key(text: str) -> str:
    """The comparison key of ``mysql_ci``: trailing spaces dropped, accents removed, case folded."""
    decomposed = unicodedata.normalize("NFD", text.rstrip(" "))
    return "".join(c for c in decomposed if not unicodedata.combining(c)).casefold()


def compare(a: str, b: str) -> int:
    """``mysql_ci``: negative, zero or positive as ``a`` sorts before, with or after ``b``."""
    ka, kb = sort_key(a), sort_key(b)
    return (ka > kb) - (ka < kb)


_DATE = re.compile(r"\s*(\d{4})-(\d{1,2})-(\d{1,2})")


def _date_part(value, group: int) -> int | None:
    """Part ``group`` (1 year, 2 month, 3 day) of a ``YYYY-MM-DD...`` value; NULL when not a date."""
    m = None if value is None else _DATE.match(str(value))
    return None if m is None else int(m.group(group))


def _regexp(pattern, value) -> int | None:
    if pattern is None or value is None:
        return None
    try:
        return int(re.search(str(pattern), str(value), re.IGNORECASE) is not None)
    except re.error as e:
        raise ValueError(f"invalid regular expression '{pattern}': {e}") from None


def register(conn: sqlite3.Connection, seed: int = 0) -> random.Random:
    """Register ``mysql_ci`` and the MySQL functions (YEAR, MONTH, DAY, REGEXP, NOW, RAND).

    Returns the generator behind RAND()/RANDOM(): reseed it before each statement for determinism.
    """
    conn.create_collation(COLLATION, compare)
    det = {"deterministic": True}
    conn.create_function("year", 1, lambda v: _date_part(v, 1), **det)
    conn.create_function("month", 1, lambda v: _date_part(v, 2), **det)
    conn.create_function("day", 1, lambda v: _date_part(v, 3), **det)
    conn.create_function("dayofmonth", 1, lambda v: _date_part(v, 3), **det)
    conn.create_function("regexp", 2, _regexp, **det)
    conn.create_function("now", 0, lambda: FIXED_CLOCK, **det)
    conn.create_function("sysdate", 0, lambda: FIXED_CLOCK, **det)
    rng = random.Random(seed)
    # MySQL's RAND() is a float in [0, 1); sqlglot writes it as SQLite's RANDOM() (an integer there).
    conn.create_function("random", 0, rng.random)
    conn.create_function("rand", 0, rng.random)
    return rng
