"""Agent queries are MySQL; the embedded engine is SQLite: translate, answer MySQL-only statements.

- ``SHOW TABLES``, ``SHOW DATABASES``, ``DESCRIBE t`` (``DESC``, ``EXPLAIN t``, ``SHOW COLUMNS FROM
  t``) and ``USE db`` are recognised here and answered from the dump's schema, in MySQL's shape.
- Everything else is parsed with sqlglot's MySQL dialect and written as SQLite (quoting, ``LIMIT a,b``,
  ``CONCAT``, ``IF``, integer vs. real division ...); the clock functions are pinned to
  :data:`FIXED_CLOCK`. Text the parser rejects becomes MySQL's "error in your SQL syntax" message.
- SQLite's error messages for the common mistakes are reworded as MySQL words them, so an agent sees
  the same kind of feedback on both engines.
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass

from harness.envs.intercode_sql.engine import FIXED_CLOCK

SHIM_VERSION = "shim-v1"  # bump when translation, shim answers or error wording change

_IDENT = r"`?([\w$]+)`?"
_SHOW_TABLES = re.compile(r"SHOW\s+(?:FULL\s+)?TABLES(?:\s+(?:FROM|IN)\s+" + _IDENT + r")?(?:\s+LIKE\s+'([^']*)')?", re.I)
_SHOW_DATABASES = re.compile(r"SHOW\s+(?:DATABASES|SCHEMAS)", re.I)
_DESCRIBE = re.compile(r"(?:DESCRIBE|DESC|EXPLAIN)\s+" + _IDENT + r"(?:\.`?([\w$]+)`?)?", re.I)
_SHOW_COLUMNS = re.compile(r"SHOW\s+(?:FULL\s+)?(?:COLUMNS|FIELDS)\s+(?:FROM|IN)\s+" + _IDENT + r"(?:\s+(?:FROM|IN)\s+" + _IDENT + r")?", re.I)
_USE = re.compile(r"USE\s+" + _IDENT, re.I)
SYNTAX_ERROR = "You have an error in your SQL syntax; check the manual that corresponds to your MySQL server version for the right syntax to use near '{near}' at line 1"


@dataclass(frozen=True)
class ShimStatement:
    """A MySQL statement answered from the schema: ``kind`` and its table/database arguments."""

    kind: str
    """``show_tables``, ``show_databases``, ``describe`` or ``use``."""
    name: str | None = None
    database: str | None = None
    pattern: str | None = None


class TranslationError(ValueError):
    """The statement cannot be run on SQLite; the message is the observation's error text."""


def strip_statement(sql: str) -> str:
    """The statement without surrounding whitespace and trailing semicolons."""
    return sql.strip().rstrip(";").strip()


def classify(sql: str) -> ShimStatement | None:
    """The shim statement ``sql`` is, or ``None`` when it is a query for SQLite."""
    text = strip_statement(sql)
    if m := _SHOW_TABLES.fullmatch(text):
        return ShimStatement("show_tables", database=m.group(1), pattern=m.group(2))
    if _SHOW_DATABASES.fullmatch(text):
        return ShimStatement("show_databases")
    if m := _DESCRIBE.fullmatch(text):
        table, database = (m.group(2), m.group(1)) if m.group(2) else (m.group(1), None)
        return ShimStatement("describe", name=table, database=database)
    if m := _SHOW_COLUMNS.fullmatch(text):
        return ShimStatement("describe", name=m.group(1), database=m.group(2))
    if m := _USE.fullmatch(text):
        return ShimStatement("use", database=m.group(1))
    return None


def like_to_regex(pattern: str) -> re.Pattern:
    """A MySQL ``LIKE`` pattern as a case-insensitive regular expression."""
    out = "".join(".*" if c == "%" else "." if c == "_" else re.escape(c) for c in pattern)
    return re.compile(out, re.I | re.S)


def _portable(node):
    from sqlglot import exp

    if isinstance(node, exp.CurrentDate):
        return exp.Literal.string(FIXED_CLOCK[:10])
    if isinstance(node, exp.CurrentTimestamp):
        return exp.Literal.string(FIXED_CLOCK)
    if isinstance(node, exp.CurrentTime):
        return exp.Literal.string(FIXED_CLOCK[11:])
    # SQLite cannot parse LEFT(...)/RIGHT(...) as functions (they are join keywords there).
    if isinstance(node, exp.Left):
        return exp.Substring(this=node.this, start=exp.Literal.number(1), length=node.expression)
    if isinstance(node, exp.Right):
        return exp.Substring(this=node.this, start=exp.Neg(this=node.expression))
    return node


def to_sqlite(sql: str) -> str:
    """``sql`` (one MySQL statement) written in SQLite's dialect; raises :class:`TranslationError`."""
    import sqlglot
    from sqlglot.errors import ErrorLevel, ParseError, SqlglotError, UnsupportedError

    logging.getLogger("sqlglot").setLevel(logging.ERROR)
    text = strip_statement(sql)
    try:
        trees = [t for t in sqlglot.parse(text, read="mysql") if t is not None]
    except ParseError as e:
        err = e.errors[0] if e.errors else {}
        near = (err.get("highlight", "") + err.get("end_context", ""))[:80] or text[-80:]
        raise TranslationError(SYNTAX_ERROR.format(near=near)) from None
    except SqlglotError as e:
        raise TranslationError(SYNTAX_ERROR.format(near=text[:80]) + f" ({e})") from None
    if not trees:
        raise TranslationError("Query was empty")
    if len(trees) > 1:  # MySQL clients send one statement at a time
        second = text.split(";", 1)[1].strip() if ";" in text else text
        raise TranslationError(SYNTAX_ERROR.format(near=second[:80]))
    try:
        return trees[0].transform(_portable).sql(dialect="sqlite", unsupported_level=ErrorLevel.RAISE)
    except UnsupportedError as e:
        raise TranslationError(f"not supported by the embedded SQLite engine (engine='mariadb' runs it): {e}") from None


_SQLITE_ERRORS = [
    (re.compile(r"no such table: (?:\w+\.)?(.+)"), "Table '{db}.{0}' doesn't exist"),
    (re.compile(r"no such column: (.+)"), "Unknown column '{0}' in 'field list'"),
    (re.compile(r"ambiguous column name: (.+)"), "Column '{0}' in field list is ambiguous"),
    (re.compile(r"no such function: (.+)"), "FUNCTION {db}.{0} does not exist"),
    (re.compile(r'near "(.*)": syntax error', re.S), SYNTAX_ERROR.replace("{near}", "{0}")),
    (re.compile(r"incomplete input"), SYNTAX_ERROR.replace("{near}", "")),
    (re.compile(r"interrupted"), "Query execution was interrupted (max_statement_time exceeded)"),
    (re.compile(r"not authorized|attempt to write a readonly database"),
     "the database is read-only in this environment: only queries (SELECT, SHOW, DESCRIBE) run"),
]


def mysql_error(message: str, database: str) -> str:
    """SQLite's ``message`` worded as MySQL words the same error (unknown ones pass through)."""
    for pattern, template in _SQLITE_ERRORS:
        if m := pattern.search(message):
            return template.format(*m.groups(), db=database)
    return message
