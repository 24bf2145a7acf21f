"""ScienceWorld (Wang et al. 2022): elementary-science tasks in a text simulator, as ETO plays it.

As ETO (Song et al. 2024) sets it up: the game's ``easy`` simplifications (teleporting, open doors,
self-watering flower pots, and no electrical actions except on the electrical tasks), ETO's splits
and per-task step budgets (:mod:`~harness.envs.sciworld.tasks`), and ETO's reward: the best raw
game score reached, in [-1, 1] (:mod:`~harness.envs.sciworld.reward`). The first observation is the
task description alone ("Your task is to ..."; ETO's reset plays one ``look around`` whose text the
agent does not see); later observations are the game's text. Any text is an action: what the
game does not understand answers "No known action matches that input." and uses a step.

Each environment starts its own Java process (~2 s, 150-300 MB; see
:mod:`~harness.envs.sciworld.game`); loading a task takes ~1 s, restarting the loaded one less.
Steps take 20-100 ms. There is no ``fork()``: the state lives in the JVM.

Every step's reward is the episode's reward so far and carries ``info["partial_credit"]``: the
rollout engine then keeps it when the step budget or the context ends the episode (as ETO does),
where other environments score such episodes 0.
"""

from __future__ import annotations

import os
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property, lru_cache

from harness.envs.base import AvailableActions, StepResult
from harness.envs.sciworld import tasks as tasks_mod
from harness.envs.sciworld.game import GameProcess, java_major_version, package_version
from harness.envs.sciworld.reward import REWARD_VERSION, game_ends, running_reward
from harness.types import Task

RULES_VERSION = "1"  # bump when observations, actions or episode rules change
SIMPLIFICATIONS = "easy"  # ETO: load(..., simplificationStr="easy")
UNKNOWN_ACTION = "No known action matches that input."

_descriptions: dict[tuple[str, int], str] = {}  # task descriptions, per process
_gold: dict[tuple[str, int, str], tuple[str, ...]] = {}  # gold action sequences, per process


@dataclass(frozen=True)
class SciworldWorld:
    """What episodes share: the split files' folder, the simplifications and the step budget rule."""

    data: str | None
    simplifications: str = SIMPLIFICATIONS
    max_steps: int | None = None
    """None = ETO's budget per task type; a number = that budget for every task."""

    @cached_property
    def version(self) -> str:
        """Rules, package and Java versions, JVM hashing, simplifications, reward and budget rule."""
        budget = "eto" if self.max_steps is None else str(self.max_steps)
        simp = self.simplifications.replace(",", "+") or "none"
        return (f"sciworld-v{RULES_VERSION}/scienceworld-{package_version()}/java-{java_major_version()}/"
                f"jvm-hashcode2/{simp}/{REWARD_VERSION}/steps-{budget}")  # fmt: skip

    def budget(self, task_name: str) -> int:
        """The step budget of a task type."""
        return self.max_steps if self.max_steps is not None else tasks_mod.ETO_MAX_STEPS[task_name]


class SciworldEnv:
    """One ScienceWorld episode at a time, in this environment's own JVM."""

    env_id = "sciworld"
    success_threshold = 1.0
    click_format = "{}"  # available_actions() lists whole commands (no click[...] wrapper)
    # At most this many episodes in flight per rollout call (each environment is a JVM of 150-400 MB):
    # the rollout engine starts the next episode when one ends. Changes speed only, never results.
    max_live_episodes = int(os.environ.get("HARNESS_SCIWORLD_MAX_JVMS", "8"))

    def __init__(self, world: SciworldWorld):
        self.world = world
        self.version = world.version
        # Before a reset: the longest budget (what no episode exceeds); after: the task's.
        self.max_steps = world.max_steps or tasks_mod.LONGEST_BUDGET
        self.game: GameProcess | None = None
        self.loaded: tuple[str, int] | None = None
        self.current: tuple[str, int] | None = None
        self.goal = ""
        self.start_room = ""
        self.history: list[str] = []
        self.reward: float | None = None
        self.steps_taken = 0
        self.done = False

    # --- tasks ---------------------------------------------------------------------------------
    def task_ids(self, split: str) -> list[str]:
        """Task ids (``<task name>/<variation>``) of ``train``, ``valid`` (alias ``dev``) or ``test``, in ETO's order."""
        return list(tasks_mod.split_ids(self.world.data, split))

    def task(self, task_id: str) -> Task:
        """The task's description (read from the game; loading an unseen task takes ~1 s) and split."""
        key = tasks_mod.parse_task_id(task_id)
        if key not in _descriptions:
            _descriptions[key] = _describe(*key, self.world.simplifications)
        return Task(self.env_id, task_id, _descriptions[key], tasks_mod.split_of(self.world.data).get(task_id))

    def expert_reply(self, rng: random.Random) -> tuple[str, str]:
        """The expert's (thought, action): the game's gold action sequence, with short thoughts."""
        from harness.envs.sciworld.expert import expert_reply

        return expert_reply(self, rng)

    def gold_actions(self) -> tuple[str, ...]:
        """The game's gold action sequence for the current task, generated once per process.

        The path the game writes depends on what its JVM loaded before (measured: freeze variation
        19 gave 105 actions in a new JVM, 99 after two other tasks; episodes themselves do not), so
        it is written by a new JVM, which then carries on with the episode, replayed to where it was.
        """
        if self.current is None or self.game is None:
            raise ValueError("the gold path needs a started episode: call reset(task_id) first")
        key = (*self.current, self.world.simplifications)
        if key not in _gold:
            self.game.close()
            self.game, self.loaded = GameProcess(), None
            self.game.load(*self.current, self.world.simplifications, gold_path=True)
            _gold[key] = tuple(self.game.gold_actions())
            self._restore()
        return _gold[key]

    def simulate(self, actions: Sequence[str]) -> float:
        """ETO's reward for playing ``actions`` from the start of the current task within its budget,
        played in this environment's JVM; the episode is then put back where it was."""
        if self.current is None or self.game is None:
            raise ValueError("simulating needs a started episode: call reset(task_id) first")
        self._load(*self.current, fresh=True)
        reward = None
        for action in actions[: self.max_steps]:
            command = " ".join(action.split())
            obs, score, completed, moves = self.game.step(command) if command else (UNKNOWN_ACTION, *self.game.status())
            reward = running_reward(reward, score)
            if game_ends(score, completed, moves):
                break
        self._restore()
        return 0.0 if reward is None else reward

    def _restore(self) -> None:
        """Reload the current task and replay the episode's commands (the game is deterministic)."""
        self._load(*self.current, fresh=True)
        for command in self.history:
            if command:
                self.game.step(command)

    # --- episode -------------------------------------------------------------------------------
    def _load(self, name: str, variation: int, fresh: bool = False) -> None:
        if self.game is None or not self.game.alive:
            self.game, self.loaded = GameProcess(), None
        if fresh or self.loaded != (name, variation):
            self.game.load(name, variation, self.world.simplifications)
            self.loaded = (name, variation)
        else:
            self.game.restart()
        first = self.game.step("look around")[0]  # ETO's reset plays it; the agent does not see its text
        m = re.match(r"This room is called the (.+?)\.", first)
        self.start_room = m.group(1) if m else ""

    def reset(self, task_id: str) -> str:
        """Start task ``task_id``; the first observation is the task description."""
        name, variation = tasks_mod.parse_task_id(task_id)
        self._load(name, variation)
        self.current = (name, variation)
        self.goal = self.game.task_description().strip()
        _descriptions.setdefault(self.current, self.goal)
        self.max_steps = self.world.budget(name)
        self.history, self.reward, self.steps_taken, self.done = [], None, 0, False
        return self.goal

    def available_actions(self) -> AvailableActions:
        """The game's valid action-object combinations for the current state (slow: ~0.4 s)."""
        if self.game is None or self.current is None:
            return AvailableActions(False, ())
        return AvailableActions(False, tuple(self.game.valid_actions()))

    def step(self, action: str) -> StepResult:
        """Play one command; text the game does not understand is answered as such and uses a step."""
        if self.game is None or self.current is None:
            return StepResult("Invalid action: the episode has not started; call reset(task_id) first.", 0.0, True)
        if self.done:
            return StepResult("Invalid action: the episode is over (ended or out of steps).", 0.0, True)
        command = " ".join(action.split()) if isinstance(action, str) else ""
        self.steps_taken += 1
        self.history.append(command)
        if command:
            obs, score, completed, moves = self.game.step(command)
        else:  # nothing to send: answered as any text the game does not know, the game untouched
            obs, (score, completed, moves) = UNKNOWN_ACTION, self.game.status()
        self.reward = running_reward(self.reward, score)
        info: dict = {"score": score, "moves": moves, "partial_credit": True}
        if obs.strip() == UNKNOWN_ACTION:
            info["invalid_action"] = "the game knows no such action"
        if game_ends(score, completed, moves):
            self.done = True
            info["completed"], info["failed"] = completed, score < 0
        elif self.steps_taken >= self.max_steps:
            self.done, info["truncated"] = True, True
        return StepResult(obs, self.reward, self.done, info)

    def close(self) -> None:
        """Stop this environment's JVM."""
        if self.game is not None:
            self.game.close()
            self.game, self.loaded, self.current = None, None, None


@lru_cache(maxsize=1)
def _describer() -> GameProcess:
    """A JVM of its own for the descriptions of tasks no episode has started (an environment's
    JVM must not load other tasks mid-episode: loading reseeds the game's random generator)."""
    return GameProcess()


def _describe(name: str, variation: int, simplifications: str) -> str:
    game = _describer()
    game.load(name, variation, simplifications)
    return game.task_description().strip()


def make_sciworld(data: str | None = None, max_steps: int | None = None, simplifications: str = SIMPLIFICATIONS,
                  seed: int | None = 0) -> SciworldEnv:
    """Build a ScienceWorld episode runner over ETO's splits in ``data`` (default: shared data).

    ``max_steps``: None = ETO's budget per task type (10-120 steps); a number = one budget for all.
    ``seed``: the game seeds its random generator with each task's variation index, so there is no
    other seed to choose; 0 (what ``harness data build --env-seed`` passes by default) or None.
    """
    if seed not in (0, None):
        raise ValueError(f"ScienceWorld takes no environment seed (got {seed}): the game seeds itself with "
                         "each task's variation index; leave --env-seed at 0")
    return SciworldEnv(load_world(data, max_steps, simplifications))


@lru_cache(maxsize=8)
def load_world(data: str | None = None, max_steps: int | None = None, simplifications: str = SIMPLIFICATIONS) -> SciworldWorld:
    """The world of ``data``, checked once per process (split files present, package and Java installed)."""
    tasks_mod.data_folder(data)
    if max_steps is not None and int(max_steps) < 1:
        raise ValueError(f"max_steps must be at least 1 (or None for ETO's budgets), got {max_steps}")
    world = SciworldWorld(data, simplifications, None if max_steps is None else int(max_steps))
    world.version  # noqa: B018 - fail early with the install hint when the package or Java is missing
    return world
