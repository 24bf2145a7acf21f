"""The policy contract (batched ``act``) and the ``--policy`` spec parser.

Every backend answers a batch of live episodes with one reply each; backends differ only in speed.
Scripted policies (the oracle expert, random, replay) read the live environment through the
episode view; model policies read only the messages.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from harness.envs.base import did_you_mean
from harness.types import Task


@dataclass(frozen=True)
class Sampling:
    """Generation settings for one ``act`` call (temperature 0 = greedy)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512


@dataclass
class EpisodeView:
    """What a policy may look at for one live episode."""

    task: Task
    messages: list[dict[str, str]]
    env: Any
    """The live environment; only privileged (scripted) policies read it."""
    step_index: int
    seed: int
    """Per-episode seed: combined with ``step_index`` it makes every sampled reply reproducible."""
    scratch: dict[str, Any] = field(default_factory=dict)
    """Per-episode state a policy may keep between steps (e.g. a replay cursor)."""


@runtime_checkable
class Policy(Protocol):
    """Answers a batch of episodes with one reply text each (``Thought: ...\\nAction: ...``)."""

    name: str

    def act(self, episodes: Sequence[EpisodeView], sampling: Sampling) -> list[str]:
        """One reply per episode, in order."""
        ...


POLICY_KINDS = ("expert", "random")


def make_policy(spec: str) -> Policy:
    """Build a policy from a ``--policy`` spec: ``expert`` or ``random``."""
    from harness.policies import scripted

    if spec == "expert":
        return scripted.ExpertPolicy()
    if spec == "random":
        return scripted.RandomPolicy()
    raise did_you_mean(spec, list(POLICY_KINDS), "policy")
