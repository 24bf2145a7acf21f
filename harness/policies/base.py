"""The policy contract (batched ``act``); ``--policy`` specs are parsed in :mod:`harness.policies.specs`.

Every backend answers a batch of live episodes with one reply each; backends differ only in speed.
Scripted policies (the oracle expert, random, replay) read the live environment through the
episode view; model policies read only the messages.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from harness.types import Task


@dataclass(frozen=True)
class Sampling:
    """Generation settings for one ``act`` call (temperature 0 = greedy)."""

    temperature: float = 0.0
    top_p: float = 1.0
    max_new_tokens: int = 512
    stop: tuple[str, ...] = ()
    """Stop sequences: a reply is cut before the first one it contains (on the decoded text, so every
    backend cuts alike; generation itself still runs to EOS or ``max_new_tokens``)."""


def cut_at_stop(text: str, stop: Sequence[str]) -> str:
    """``text`` up to (excluding) the earliest of the ``stop`` sequences it contains."""
    cut = min((i for i in (text.find(s) for s in stop if s) if i >= 0), default=len(text))
    return text[:cut]


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


class ContextOverflow(str):
    """The reply a model policy gives when an episode's prompt no longer fits its context.

    It is a ``str`` so ``act`` keeps returning ``list[str]``; the rollout engine checks
    ``isinstance(reply, ContextOverflow)`` and ends that episode with stop reason
    ``context_overflow`` (a failure, as in IPR/ETO). The text says how long the prompt was.
    """


def sample_seed(view: EpisodeView) -> int:
    """The 63-bit seed of one reply's random draws: a hash of (episode seed, task id, step index).

    Every backend seeds each episode's sampling with it, so a reply never depends on which other
    episodes share the batch, and an episode re-run alone samples the same tokens.
    """
    digest = hashlib.sha256(f"{view.seed}:{view.task.task_id}:{view.step_index}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1
