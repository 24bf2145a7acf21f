"""ALFWorld (Shridhar et al. 2021): household tasks as text games, played through TextWorld.

Actions are ALFWorld 0.3.x's text commands (``go to desk 1``, ``take mug 1 from desk 1``, ``put mug 1
in/on shelf 2``, ``open``/``close``, ``clean``/``heat``/``cool X with Y``, ``use desklamp 1``,
``examine``, ``look``, ``inventory``); a command that is not admissible answers "Nothing happens."
and uses a step. Observations are IPR's: the first one without the welcome banner, later ones
without "You arrive at loc N.". Reward = 1.0 on the step the task is won (which ends the episode),
else 0; at most 20 steps (IPR; ETO uses 40).

Pinned: alfworld 0.3.4 with textworld 1.7.0. ALFWorld 0.4 renamed ``put X in/on Y`` to
``move X to Y`` and changed messages and game files, so its scores are not comparable with the
papers' (all of which used 0.3.x); the versions are part of the environment version.
"""

from __future__ import annotations

import json
import random
import re
from dataclasses import dataclass
from functools import cached_property, lru_cache

from harness.envs.alfworld import games as games_mod
from harness.envs.alfworld.session import GameSession, initial_text, package_versions, step_text
from harness.envs.base import AvailableActions, StepResult
from harness.types import Task

RULES_VERSION = "1"  # bump when observations, actions or episode rules change
MAX_STEPS = 20  # IPR's budget
_TASK_TEXT = re.compile(r'"task":\s*\[\s*\{\s*"rhs":\s*"Your task is to: (.*?)"', re.S)


@dataclass(frozen=True)
class AlfworldWorld:
    """What episodes share: the data folder (its games and splits) and the pinned engine versions."""

    data: str | None

    @cached_property
    def version(self) -> str:
        """Rules, package versions and the evaluation games' fingerprint (all reward-affecting)."""
        v = package_versions()
        return (f"alfworld-v{RULES_VERSION}/alfworld-{v['alfworld']}/textworld-{v['textworld']}/"
                f"fast-downward-{v['fast-downward-textworld']}/games-{games_mod.games_fingerprint(self.data)}")

    def instruction(self, game: games_mod.Game) -> str:
        """The game's task sentence (read from its grammar, without loading the game)."""
        grammar = json.loads(game.game_file.read_text(encoding="utf-8"))["grammar"]
        m = _TASK_TEXT.search(grammar)
        return m.group(1).strip() if m else ""


class AlfworldEnv:
    """One ALFWorld episode at a time; the loaded game is kept between resets of the same task."""

    env_id = "alfworld"
    max_steps = MAX_STEPS
    success_threshold = 1.0
    click_format = "{}"  # available_actions() lists whole commands (no click[...] wrapper)

    def __init__(self, world: AlfworldWorld, max_steps: int = MAX_STEPS):
        self.world = world
        self.max_steps = max_steps
        self.version = world.version
        self.game: games_mod.Game | None = None
        self.session: GameSession | None = None
        self.goal = ""
        self.admissible: list[str] = []
        self.history: list[str] = []
        self.steps_taken = 0
        self.done = False

    # --- tasks ---------------------------------------------------------------------------------
    def task_ids(self, split: str) -> list[str]:
        """Task ids (game folders) of ``seen``, ``unseen`` or ``train`` (aliases: dev, test), sorted."""
        return [g.task_id for g in games_mod.list_games(self.world.data, split)]

    def task(self, task_id: str) -> Task:
        """The task's goal sentence and split."""
        game = games_mod.find_game(self.world.data, task_id)
        split = next(s for s, d in games_mod.SPLIT_DIRS.items() if task_id.startswith(d + "/"))
        return Task(self.env_id, task_id, self.world.instruction(game), split)

    def expert_reply(self, rng: random.Random) -> tuple[str, str]:
        """The expert's (thought, action): the game's recorded expert actions, else a solver reading the game state."""
        from harness.envs.alfworld.expert import expert_reply

        return expert_reply(self, rng)

    # --- episode -------------------------------------------------------------------------------
    def reset(self, task_id: str) -> str:
        """Start game ``task_id`` (loading it takes ~1-2 s; a reset of the same game ~0.6 s)."""
        game = games_mod.find_game(self.world.data, task_id)
        if self.session is None or self.game is None or self.game.task_id != game.task_id:
            self.close()
            self.session = GameSession(game.game_file)
        self.game = game
        feedback, self.admissible = self.session.reset()
        self.goal = feedback.rsplit("Your task is to:", 1)[-1].strip()
        self.history, self.steps_taken, self.done = [], 0, False
        return initial_text(feedback)

    def available_actions(self) -> AvailableActions:
        """The admissible commands of the current state as clickables (no search box)."""
        return AvailableActions(False, tuple(self.admissible))

    def step(self, action: str) -> StepResult:
        """Play one command; anything not admissible answers "Nothing happens." and uses a step."""
        if self.session is None:
            return StepResult("Invalid action: the episode has not started; call reset(task_id) first.", 0.0, True)
        if self.done:
            return StepResult("Invalid action: the episode is over (won or out of steps).", 0.0, True)
        command = action.strip() if isinstance(action, str) else ""
        self.steps_taken += 1
        info: dict = {}
        if command not in self.admissible:
            info["invalid_action"] = "not an admissible command"
        feedback, won, self.admissible = self.session.step(command)
        self.history.append(command)
        info["won"] = won
        self.done = won
        if not won and self.steps_taken >= self.max_steps:
            self.done, info["truncated"] = True, True
        return StepResult(step_text(feedback), 1.0 if won else 0.0, self.done, info)

    def close(self) -> None:
        """Release the loaded game (its planner library copy)."""
        if self.session is not None:
            self.session.close()
            self.session = None
            self.game = None


def make_alfworld(data: str | None = None, max_steps: int = MAX_STEPS) -> AlfworldEnv:
    """Build an ALFWorld episode runner over the game files in ``data`` (default: shared data)."""
    return AlfworldEnv(load_world(data), max_steps=max_steps)


@lru_cache(maxsize=4)
def load_world(data: str | None = None) -> AlfworldWorld:
    """The world of data folder ``data``, checked once per process (folder present, packages installed)."""
    games_mod.data_folder(data)
    world = AlfworldWorld(data)
    world.version  # noqa: B018 - fail early with the install hint when a package is missing
    return world
