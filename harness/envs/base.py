"""The one environment contract every benchmark implements, and the registry that names them.

Contract (ARCHITECTURE.md): ``reset(task_id) -> observation``; ``step(action) -> StepResult``;
``available_actions()``; ``max_steps``; ``version`` (changes whenever rewards or observations
could change); ``task_ids(split)``. Replaying the same actions after ``reset`` reproduces the same
observations and rewards. Bad actions never raise: they return an observation saying what was
wrong and use up a step. Optional: ``fork()``, a copy of the episode in its current state (Monte-Carlo
rollouts then branch from one replayed prefix instead of replaying it per rollout; WebShop and
InterCodeSQL have it, ALFWorld does not: its state lives in the planner's C library), and
``close()``, which frees what the environment holds.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from harness.registry import Entry, NameRegistry, UnknownNameError, did_you_mean
from harness.types import Task

__all__ = ["ENVS", "AvailableActions", "Environment", "StepResult", "UnknownNameError", "did_you_mean", "list_envs",
           "make_env", "register_env"]  # fmt: skip


@dataclass(frozen=True)
class StepResult:
    """The environment's answer to one action."""

    observation: str
    reward: float
    done: bool
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AvailableActions:
    """What the agent may do on the current page/state."""

    has_search_bar: bool
    clickables: tuple[str, ...]


@runtime_checkable
class Environment(Protocol):
    """A deterministic, text-in text-out episodic environment."""

    env_id: str
    version: str
    max_steps: int
    success_threshold: float

    def task_ids(self, split: str) -> list[str]:
        """Task ids of ``split`` in a stable order."""
        ...

    def task(self, task_id: str) -> Task:
        """The task's instruction and split."""
        ...

    def reset(self, task_id: str) -> str:
        """Start an episode of ``task_id`` and return the first observation."""
        ...

    def step(self, action: str) -> StepResult:
        """Execute one action (never raises on bad input)."""
        ...

    def available_actions(self) -> AvailableActions:
        """Actions valid in the current state."""
        ...


ENVS: NameRegistry[Callable[..., Environment]] = NameRegistry("environment")
"""Environment factories by name; the built-in ones are imported on first use."""
ENVS.add("webshop", "harness.envs.webshop.env:make_webshop",
         "WebShop text shopping (Yao et al. 2022): search and click to buy the requested product; max 10 steps.")
ENVS.add("alfworld", "harness.envs.alfworld.env:make_alfworld",
         "ALFWorld text household tasks (Shridhar et al. 2021) on TextWorld, alfworld 0.3.4; seen/unseen splits; max 20 steps.")
ENVS.add("sciworld", "harness.envs.sciworld.env:make_sciworld",
         "ScienceWorld science tasks (Wang et al. 2022) as ETO plays them: scienceworld 1.2.3 on Java 17, ETO's splits, budgets and reward.")
ENVS.add("intercode_sql", "harness.envs.intercode_sql.env:make_intercode_sql",
         "InterCodeSQL (Yang et al. 2023): answer Spider questions by querying a real database (SQLite or MariaDB); max 10 steps.")


def register_env(name: str, description: str) -> Callable[[Callable[..., Environment]], Callable[..., Environment]]:
    """Decorator registering an environment factory under ``name`` (for environments outside harness)."""

    def wrap(factory: Callable[..., Environment]) -> Callable[..., Environment]:
        ENVS.add(name, factory, description)
        return factory

    return wrap


def list_envs() -> list[Entry]:
    """All registered environments (name, description), sorted by name; nothing is imported."""
    return ENVS.entries()


def make_env(name: str, **kwargs: Any) -> Environment:
    """Build the environment registered as ``name`` with factory keyword arguments ``kwargs``; an
    option the factory does not take is a ValueError naming the options it does take."""
    import inspect

    factory = ENVS.get(name)
    params = inspect.signature(factory).parameters
    if not any(p.kind is p.VAR_KEYWORD for p in params.values()):
        unknown = sorted(set(kwargs) - set(params))
        if unknown:
            takes = ", ".join(params) or "none"
            raise ValueError(f"environment '{name}' has no option {', '.join(map(repr, unknown))} (its options: {takes})")
    return factory(**kwargs)
