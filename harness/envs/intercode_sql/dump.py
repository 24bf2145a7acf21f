"""Read a ``mysqldump`` file (InterCode's ``ic_spider_dbs.sql``) into databases, tables and rows.

Only what the dump contains is understood: ``CREATE DATABASE``/``USE``, ``CREATE TABLE`` (parsed with
sqlglot's MySQL dialect) and ``INSERT INTO ... VALUES`` (parsed here: sqlglot takes seconds on the
4,079-row ``city`` insert). Everything else (``SET``, locks, users, grants) is skipped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Column:
    """One column as MySQL's ``DESCRIBE`` shows it."""

    name: str
    mysql_type: str
    """Type as declared in the dump, lower-cased (``int``, ``varchar(255)``, ``decimal(19,4)``)."""
    nullable: bool
    key: str
    """``PRI``, ``UNI``, ``MUL`` or ``""``."""
    default: str | None
    extra: str


@dataclass
class Table:
    """A table's columns and its rows (Python values: int, float, str or None)."""

    name: str
    columns: list[Column]
    rows: list[tuple] = field(default_factory=list)


_NAME = r"`((?:[^`]|``)+)`|(\w+)"
_CREATE_DB = re.compile(r"CREATE\s+DATABASE\s+(?:IF\s+NOT\s+EXISTS\s+)?(?:" + _NAME + ")", re.I)
_USE = re.compile(r"USE\s+(?:" + _NAME + r")\s*;?\s*$", re.I)
_INSERT = re.compile(r"INSERT\s+INTO\s+(?:" + _NAME + r")\s+VALUES\s*", re.I)
# One literal inside VALUES: a quoted string with MySQL escapes, NULL, or a number.
_LITERAL = re.compile(r"'((?:[^'\\]|\\.|'')*)'|(NULL)|(-?\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)", re.S)
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a", "\\": "\\", "'": "'", '"': '"'}
_ESCAPE = re.compile(r"\\(.)|''", re.S)


def _name(m: re.Match, first_group: int = 1) -> str:
    quoted, bare = m.group(first_group), m.group(first_group + 1)
    return quoted.replace("``", "`") if quoted is not None else bare


def statements(text: str) -> list[str]:
    """Split a dump into statements: lines accumulate until one ends with ``;`` (comments dropped)."""
    out, current = [], []
    for line in text.splitlines():
        if not current and (not line.strip() or line.startswith("--")):
            continue
        current.append(line)
        if line.rstrip().endswith(";"):
            out.append("\n".join(current).strip())
            current = []
    if current:
        out.append("\n".join(current).strip())
    return out


def parse_values(text: str) -> list[tuple]:
    """The rows of an ``INSERT ... VALUES (..),(..);`` tail, unescaped and typed."""
    rows, row, pos, depth = [], [], 0, 0
    while pos < len(text):
        ch = text[pos]
        if ch in " \n\t,;":
            pos += 1
        elif ch == "(":
            depth, row, pos = 1, [], pos + 1
        elif ch == ")":
            rows.append(tuple(row))
            depth, pos = 0, pos + 1
        else:
            m = _LITERAL.match(text, pos)
            if m is None or depth != 1:
                raise ValueError(f"cannot read the INSERT values near: {text[pos:pos + 60]!r}")
            if m.group(1) is not None:
                row.append(_ESCAPE.sub(lambda e: "'" if e.group(0) == "''" else _ESCAPES.get(e.group(1), "\\" + e.group(1)), m.group(1)))
            elif m.group(2):
                row.append(None)
            else:
                num = m.group(3)
                row.append(int(num) if re.fullmatch(r"-?\d+", num) else float(num))
            pos = m.end()
    return rows


def parse_create_table(sql: str) -> Table:
    """A ``CREATE TABLE`` statement's name and columns (with DESCRIBE-style key flags)."""
    import sqlglot
    from sqlglot import exp

    tree = sqlglot.parse_one(sql, read="mysql")
    schema = tree.this
    primary, unique, multiple = set(), set(), set()
    for node in schema.expressions:
        if isinstance(node, exp.PrimaryKey):
            primary.update(e.name for e in node.expressions)
        elif isinstance(node, exp.IndexColumnConstraint) or isinstance(node, exp.Constraint):
            cols = [e.name for e in node.find_all(exp.Identifier) if e is not node.this]
            kind = (node.args.get("kind") or "").upper() if isinstance(node, exp.IndexColumnConstraint) else ""
            if cols:
                (unique if kind == "UNIQUE" else multiple).add(cols[0])
        elif isinstance(node, exp.UniqueColumnConstraint):
            cols = [e.name for e in node.find_all(exp.Identifier)]
            if cols:
                unique.add(cols[0])
    columns = []
    for cd in schema.expressions:
        if not isinstance(cd, exp.ColumnDef):
            continue
        kinds = [c.args["kind"] for c in cd.args.get("constraints") or []]
        default = next((k.this for k in kinds if isinstance(k, exp.DefaultColumnConstraint)), None)
        if default is None or isinstance(default, exp.Null):
            default_text = None
        else:
            default_text = default.this if isinstance(default, exp.Literal) else default.sql("mysql")
        name = cd.name
        key = "PRI" if name in primary else "UNI" if name in unique else "MUL" if name in multiple else ""
        columns.append(
            Column(
                name=name,
                mysql_type=cd.args["kind"].sql("mysql").lower().replace(", ", ","),
                nullable=not any(isinstance(k, exp.NotNullColumnConstraint) for k in kinds) and name not in primary,
                key=key,
                default=default_text,
                extra="auto_increment" if any(isinstance(k, exp.AutoIncrementColumnConstraint) for k in kinds) else "",
            )
        )
    return Table(schema.this.name, columns)


def read_dump(path: Path) -> dict[str, dict[str, Table]]:
    """Database name -> table name -> :class:`Table` for every database in the dump."""
    databases: dict[str, dict[str, Table]] = {}
    current: str | None = None
    for stmt in statements(Path(path).read_text(encoding="utf-8")):
        head = stmt.lstrip()[:40].upper()
        if head.startswith("CREATE DATABASE"):
            databases.setdefault(_name(_CREATE_DB.match(stmt.lstrip())), {})
        elif head.startswith("USE"):
            current = _name(_USE.match(stmt.strip()))
            databases.setdefault(current, {})
        elif head.startswith("CREATE TABLE"):
            if current is None:
                raise ValueError(f"{path}: CREATE TABLE before any USE statement: {stmt[:80]!r}")
            table = parse_create_table(stmt.rstrip(";"))
            databases[current][table.name] = table
        elif head.startswith("INSERT"):
            m = _INSERT.match(stmt.lstrip())
            table_name = _name(m)
            if current is None or table_name not in databases[current]:
                raise ValueError(f"{path}: INSERT into unknown table '{table_name}' (database {current})")
            databases[current][table_name].rows.extend(parse_values(stmt.lstrip()[m.end():]))
    return databases
