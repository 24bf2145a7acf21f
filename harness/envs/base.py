"""The one environment contract every benchmark implements, and the registry that names them.

Contract (ARCHITECTURE.md): ``reset(task_id) -> observation``; ``step(action) -> StepResult``;
``available_actions()``; ``max_steps``; ``version`` (changes whenever rewards or observations
could change); ``task_ids(split)``. Replaying the same actions after ``reset`` reproduces the same
observations and rewards. Bad actions never raise: they return an observation saying what was
wrong and use up a step.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from harness.types import Task


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


class UnknownNameError(KeyError):
    """A name that is not in a registry; the message lists close matches."""

    def __str__(self) -> str:  # KeyError would quote the message
        return str(self.args[0])


def did_you_mean(name: str, known: list[str], kind: str) -> UnknownNameError:
    """Build the error for an unknown ``name`` among ``known`` with the closest suggestions."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean: {', '.join(close)}?" if close else ""
    return UnknownNameError(f"unknown {kind} '{name}'. Known: {', '.join(sorted(known)) or 'none'}.{hint}")


@dataclass(frozen=True)
class EnvSpec:
    """Registry entry: a factory plus a one-line description for ``harness env list``."""

    name: str
    factory: Callable[..., Environment]
    description: str


_REGISTRY: dict[str, EnvSpec] = {}


def register_env(name: str, description: str) -> Callable[[Callable[..., Environment]], Callable[..., Environment]]:
    """Decorator registering an environment factory under ``name``."""

    def wrap(factory: Callable[..., Environment]) -> Callable[..., Environment]:
        _REGISTRY[name] = EnvSpec(name, factory, description)
        return factory

    return wrap


def _load_builtin_envs() -> None:
    # Imported lazily so `harness --help` does not pay for every environment's dependencies.
    import harness.envs.webshop  # noqa: F401
    import harness.envs.intercode_sql  # noqa: F401
    import harness.envs.alfworld  # noqa: F401


def list_envs() -> list[EnvSpec]:
    """All registered environments, sorted by name."""
    _load_builtin_envs()
    return [_REGISTRY[k] for k in sorted(_REGISTRY)]


def make_env(name: str, **kwargs: Any) -> Environment:
    """Build the environment registered as ``name`` with factory keyword arguments ``kwargs``."""
    _load_builtin_envs()
    if name not in _REGISTRY:
        raise did_you_mean(name, list(_REGISTRY), "environment")
    return _REGISTRY[name].factory(**kwargs)
