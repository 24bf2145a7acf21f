"""InterCodeSQL (Yang et al. 2023): answer a question about a Spider database by querying it.

Actions (IPR's format, the text after ``Action:``): a fenced block ```` ```sql\\n<query>\\n``` ````
whose first line is executed, or ``submit`` (IPR submits whenever the word appears anywhere in the
action, even inside a query; here the action must start with it). Observations: the rows as a Python list of tuples
(truncated to 350 characters), ``Error executing query: <message>``, or
``[Executed Successfully with No Output]``. ``submit`` ends the episode and scores the last query's
rows against the gold query's rows (:func:`~harness.envs.intercode_sql.reward.sql_reward`).
Success = reward 1.0; at most 10 steps (IPR). The first observation is the question.
"""

from __future__ import annotations

import copy
import hashlib
import random
import re
from dataclasses import dataclass, field
from functools import cached_property, lru_cache

from harness.envs.base import AvailableActions, StepResult
from harness.envs.intercode_sql.engine import Engine, QueryResult, one_line
from harness.envs.intercode_sql.engines import make_engine
from harness.envs.intercode_sql.reward import REWARD_VERSION, sql_reward
from harness.envs.intercode_sql.tasks import SPLITS, SqlData, SqlTask, load_sql_data
from harness.types import Task

RULES_VERSION = "1"  # bump when actions, observations or episode rules change
MAX_STEPS = 10
OBSERVATION_CHARS = 350
NO_OUTPUT = "[Executed Successfully with No Output]"
FORMAT_HELP = "Use Action: ```sql\\n<one MySQL query>\\n``` to run a query, or Action: submit to submit the last query's result."
_FENCE = re.compile(r"```sql(.*?)```", re.S)  # as IPR's parser: lower-case tag, closed block


@dataclass
class SqlWorld:
    """What episodes share: tasks and splits, the engine, and the gold results (computed once each)."""

    data: SqlData
    engine: Engine
    gold: dict[int, QueryResult] = field(default_factory=dict)

    @cached_property
    def version(self) -> str:
        """Rules, engine (with its settings), reward and the data files' hashes: all reward-affecting."""
        dump = hashlib.sha256(self.data.dump.read_bytes()).hexdigest()[:12]
        return f"intercode_sql-v{RULES_VERSION}/{self.engine.version}/{REWARD_VERSION}/tasks-{self.data.tasks_sha[:12]}/dump-{dump}"

    def gold_result(self, task: SqlTask) -> QueryResult:
        """The gold query's result on this engine (cached)."""
        if task.index not in self.gold:
            self.gold[task.index] = self.engine.execute(task.db, one_line(task.gold))
        return self.gold[task.index]


def render(result: QueryResult) -> str:
    """The observation text for a statement's result (InterCode/IPR format)."""
    if result.error is not None:
        text = f"Error executing query: {result.error}"
    elif result.rows is None:
        text = NO_OUTPUT
    else:
        text = str(result.rows)
    return text[:OBSERVATION_CHARS] + "..." if len(text) > OBSERVATION_CHARS else text


def parse_action(action: str) -> tuple[str, str]:
    """``("query", sql)``, ``("submit", "")`` or ``("invalid", why)`` for an action text."""
    if not isinstance(action, str) or not action.strip():
        return "invalid", "the action is empty."
    m = _FENCE.search(action)
    if m is not None:
        lines = [ln for ln in m.group(1).strip().split("\n")]
        sql = lines[0].strip() if lines else ""
        return ("query", sql) if sql else ("invalid", "the ```sql block is empty.")
    if re.match(r"submit\b", action.strip(), re.I):
        return "submit", ""
    return "invalid", f"'{action.strip()[:80]}' is neither a ```sql block nor submit."


class IntercodeSqlEnv:
    """One InterCodeSQL episode at a time over a shared :class:`SqlWorld`."""

    env_id = "intercode_sql"
    max_steps = MAX_STEPS
    success_threshold = 1.0
    click_format = "{}"  # available_actions() lists whole action texts (no click[...] wrapper)

    def __init__(self, world: SqlWorld, max_steps: int = MAX_STEPS):
        self.world = world
        self.max_steps = max_steps
        self.version = world.version
        self.current: SqlTask | None = None
        self.database = ""
        self.last: QueryResult | None = None
        self.executed: list[str] = []
        self.steps_taken = 0
        self.done = False

    # --- tasks ---------------------------------------------------------------------------------
    def task_ids(self, split: str) -> list[str]:
        """Task ids of ``split``: ``test`` (0-199), ``test_clean``, ``valid``, ``train`` or ``all``."""
        if split not in self.world.data.splits:
            raise ValueError(f"unknown InterCodeSQL split '{split}'; choose one of {', '.join(SPLITS)}")
        return [str(i) for i in self.world.data.splits[split]]

    def _task(self, task_id: str) -> SqlTask:
        tasks = self.world.data.tasks
        if not str(task_id).isdigit() or int(task_id) >= len(tasks):
            raise ValueError(f"unknown InterCodeSQL task id '{task_id}': task ids are 0..{len(tasks) - 1}")
        return tasks[int(task_id)]

    def task(self, task_id: str) -> Task:
        """The task's question and split (its first split among test, valid, train)."""
        t = self._task(task_id)
        split = next((s for s in ("test", "valid", "train") if t.index in self.world.data.splits[s]), None)
        return Task(self.env_id, str(task_id), t.question, split)

    def task_flags(self, task_id: str) -> tuple[str, ...]:
        """``empty_db`` / ``gold_error`` marks of a task (see :mod:`harness.envs.intercode_sql.tasks`)."""
        return self._task(task_id).flags

    def expert_reply(self, rng: random.Random) -> tuple[str, str]:
        """The scripted expert's (thought, action): look at the schema, run the gold query, submit."""
        from harness.envs.intercode_sql.expert import expert_reply

        return expert_reply(self, rng)

    # --- episode -------------------------------------------------------------------------------
    def reset(self, task_id: str) -> str:
        """Start task ``task_id`` in its database; the observation is the question."""
        self.current = self._task(task_id)
        self.database = self.current.db
        self.last, self.executed = None, []
        self.steps_taken, self.done = 0, False
        return self.current.question

    def fork(self) -> IntercodeSqlEnv:
        """A copy of this episode in its current state (Monte-Carlo rollouts branch from it instead of
        replaying their shared prefix); the databases are read-only for the agent, so they are shared."""
        twin = copy.copy(self)
        twin.executed = list(self.executed)
        return twin

    def available_actions(self) -> AvailableActions:
        """Example actions: submit, SHOW TABLES, and DESCRIBE / SELECT * for each table (no search)."""
        if self.current is None:
            return AvailableActions(False, ())
        tables = self.world.engine.execute(self.database, "SHOW TABLES").rows or []
        actions = ["submit", "```sql\nSHOW TABLES\n```"]
        for (name, *_) in tables:
            actions += [f"```sql\nDESCRIBE {name}\n```", f"```sql\nSELECT * FROM {name}\n```"]
        return AvailableActions(False, tuple(actions))

    def step(self, action: str) -> StepResult:
        """Run a query or submit; malformed actions are answered with the format and use a step."""
        if self.current is None:
            return StepResult("Invalid action: the episode has not started; call reset(task_id) first.", 0.0, True)
        if self.done:
            return StepResult("Invalid action: the episode is over (submitted or out of steps).", 0.0, True)
        self.steps_taken += 1
        kind, arg = parse_action(action)
        reward, info = 0.0, {"database": self.database}
        if kind == "invalid":
            obs, info["invalid_action"] = f"Invalid action: {arg} {FORMAT_HELP}", arg
        elif kind == "query":
            result = self.world.engine.execute(self.database, arg)
            self.database = result.database or self.database
            self.last = result
            self.executed.append(arg)
            obs, info["query"] = render(result), arg
            if result.error is not None:
                info["error"] = result.error
        else:
            gold = self.world.gold_result(self.current)
            reward = sql_reward(self.last.rows if self.last else None, gold.rows)
            self.done = True
            info.update(submitted=True, flags=list(self.current.flags))
            if gold.error is not None:
                info["gold_error"] = gold.error
            obs = f"Submitted the last query's result (reward {reward})."
        if not self.done and self.steps_taken >= self.max_steps:
            self.done, info["truncated"] = True, True
        return StepResult(obs, float(reward), self.done, info)


@lru_cache(maxsize=4)
def load_world(data: str | None = None, engine: str = "sqlite") -> SqlWorld:
    """Load (once per process) the tasks of ``data`` and the engine ``engine`` over their dump."""
    sql_data = load_sql_data(data)
    return SqlWorld(sql_data, make_engine(engine, sql_data.dump))


def make_intercode_sql(data: str | None = None, engine: str = "sqlite", max_steps: int = MAX_STEPS) -> IntercodeSqlEnv:
    """Build an InterCodeSQL episode runner over the data folder ``data`` on ``engine``."""
    return IntercodeSqlEnv(load_world(data, engine), max_steps=max_steps)
