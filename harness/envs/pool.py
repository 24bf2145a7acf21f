"""Environments kept alive across episodes, and the picklable factory a worker builds them from.

Starting an episode costs little in WebShop and InterCodeSQL but 1-2 s in ALFWorld, where a new
environment loads its game while a reset of the game already loaded takes ~0.1 s. A rollout worker
plays thousands of episodes of a few hundred tasks (every Monte-Carlo rollout of a step replays the
same task), so it keeps its environments: an episode of task T takes an idle environment that last
played T, else any idle one, else a new one. Every episode still starts with ``reset(task_id)``,
which the environment contract makes a full restart, so reuse changes no observation or reward.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from harness.envs.base import Environment, make_env


def env_factory(name: str, **kwargs: Any) -> Callable[[], Environment]:
    """A picklable factory of environment ``name`` built with ``kwargs`` (Ray workers build theirs from it)."""
    return functools.partial(make_env, name, **kwargs)


class EnvPool:
    """Idle environments by the task they last played; ``acquire`` one per episode, ``release`` it after."""

    def __init__(self, make: Callable[[], Environment], max_idle: int = 512):
        """``make`` builds a new environment; at most ``max_idle`` idle ones are kept (the oldest go)."""
        self.make = make
        self.max_idle = max_idle
        self.idle: dict[str, list[Environment]] = {}
        self.created = 0
        self.reused = 0

    @classmethod
    def of(cls, make: Callable[[], Environment] | EnvPool) -> EnvPool:
        """``make`` itself when it is a pool, else a new pool around the factory ``make``."""
        return make if isinstance(make, EnvPool) else cls(make)

    def acquire(self, task_id: str) -> Environment:
        """An environment for an episode of ``task_id`` (not yet reset): one that last played it if
        idle, else any idle one, else a new one."""
        same = self.idle.get(task_id)
        if not same:
            same = next((envs for envs in self.idle.values() if envs), None)
        if same:
            self.reused += 1
            return same.pop()
        self.created += 1
        return self.make()

    def release(self, env: Environment, task_id: str) -> None:
        """Give ``env`` (which last played ``task_id``) back for later episodes."""
        self.idle.setdefault(task_id, []).append(env)
        while sum(len(v) for v in self.idle.values()) > self.max_idle:
            oldest = next(k for k, v in self.idle.items() if v)
            _close(self.idle[oldest].pop(0))
            if not self.idle[oldest]:
                del self.idle[oldest]

    def close(self) -> None:
        """Close every idle environment (ALFWorld frees its planner state)."""
        for envs in self.idle.values():
            for env in envs:
                _close(env)
        self.idle.clear()


def _close(env: Environment) -> None:
    close = getattr(env, "close", None)
    if close is not None:
        close()
