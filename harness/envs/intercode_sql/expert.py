"""The InterCodeSQL expert: explores the schema the gold query needs, runs the gold query, submits.

It is privileged (reads the gold query) and decides from the episode's state, so it can take over
any prefix: it first lists the tables and describes those the gold query uses (while the step
budget allows), runs the gold query when the last result is not already the gold result, and
submits as soon as it is. Thoughts are short, varied by the episode's seed, and name the question's
tables and the query's shape.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.envs.intercode_sql.env import IntercodeSqlEnv

MAX_DESCRIBED = 3  # tables described before querying (keeps episodes well inside 10 steps)

_SHOW = [
    "I should first find out which tables the database has.",
    "Let me start by listing the tables in this database.",
    "Before writing a query I need to know the tables available.",
]
_DESCRIBE = [
    "The {table} table looks relevant to the question; I will check its columns.",
    "I need the column names of {table} to write the query.",
    "Let me look at the structure of {table}.",
]
_QUERY = [
    "Now I know the schema: a query {shape} should answer the question.",
    "I have what I need. A query {shape} gives the answer.",
    "With these columns I can write the query, {shape}.",
]
_SUBMIT = [
    "The result answers the question, so I will submit it.",
    "This output is the answer; submitting.",
    "The query returned what was asked. I will submit.",
]


def gold_tables(gold: str) -> list[str]:
    """Tables the gold query reads, in order of first mention (empty if it does not parse)."""
    import sqlglot
    from sqlglot import exp

    try:
        tree = sqlglot.parse_one(gold, read="mysql")
    except sqlglot.errors.SqlglotError:
        return []
    ctes = {c.alias_or_name.lower() for c in tree.find_all(exp.CTE)}
    names: list[str] = []
    for t in tree.find_all(exp.Table):
        if t.name and t.name.lower() not in ctes and t.name.lower() not in [n.lower() for n in names]:
            names.append(t.name)
    return names


def query_shape(gold: str, tables: list[str]) -> str:
    """A short description of the gold query, e.g. "joining A and B with a filter and grouping"."""
    upper = f" {gold.upper()} "
    parts = []
    if len(tables) > 1:
        parts.append(f"joining {', '.join(tables[:-1])} and {tables[-1]}")
    elif tables:
        parts.append(f"on {tables[0]}")
    extras = [w for k, w in ((" WHERE ", "a filter"), (" GROUP BY ", "grouping"), (" ORDER BY ", "ordering"),
                             (" INTERSECT ", "an intersection"), (" EXCEPT ", "a set difference"),
                             (" UNION ", "a union")) if k in upper]
    if extras:
        parts.append("with " + " and ".join(extras))
    return " ".join(parts) if parts else "over the database"


def expert_reply(env: IntercodeSqlEnv, rng: random.Random) -> tuple[str, str]:
    """(thought, action) for the episode's current state."""
    from harness.envs.intercode_sql.engine import one_line
    from harness.envs.intercode_sql.reward import sql_reward

    task = env.current
    if task is None:
        raise ValueError("the expert needs a started episode: call reset(task_id) first")
    gold_sql = one_line(task.gold)
    gold = env.world.gold_result(task)
    if env.last is not None and (env.executed and env.executed[-1] == gold_sql or
                                 (gold.rows is not None and sql_reward(env.last.rows, gold.rows) >= 1.0)):
        return rng.choice(_SUBMIT), "submit"
    steps_left = env.max_steps - env.steps_taken
    tables = gold_tables(task.gold)
    plan = ["SHOW TABLES"] + [f"DESCRIBE {t}" for t in tables[:MAX_DESCRIBED]]
    done = {q.upper() for q in env.executed}
    for i, stmt in enumerate(plan):
        if stmt.upper() not in done and steps_left > 2:  # keep two steps for the query and submit
            thought = rng.choice(_SHOW) if i == 0 else rng.choice(_DESCRIBE).format(table=tables[i - 1])
            return thought, f"```sql\n{stmt}\n```"
    return rng.choice(_QUERY).format(shape=query_shape(task.gold, tables)), f"```sql\n{gold_sql}\n```"
