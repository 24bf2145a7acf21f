"""Core records that flow between the stages: tasks, steps, trajectories and evaluation results.

All records are frozen dataclasses with plain-JSON ``to_dict``/``from_dict`` so they round-trip
through JSONL, parquet and the Hub unchanged.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Literal

StopReason = Literal["done", "max_steps", "invalid_format", "context_overflow"]
STOP_REASONS: tuple[str, ...] = ("done", "max_steps", "invalid_format", "context_overflow")


def final_reward_of(steps: Sequence[Step], stop_reason: str) -> float:
    """An episode's outcome reward from its steps and why it stopped.

    The last step's reward when the environment ended the episode (``done``). When the step budget
    or the context ended it, 0, unless the environment marked that step ``info["partial_credit"]``:
    then its reward is the episode's reward so far and stands (ETO's ScienceWorld scoring).
    """
    if not steps:
        return 0.0
    last = steps[-1]
    if stop_reason == "done" or last.info.get("partial_credit"):
        return float(last.reward)
    return 0.0


def content_hash(obj: Any, length: int = 16) -> str:
    """Return a short, stable sha256 hex digest of ``obj`` serialised as canonical JSON."""
    blob = json.dumps(obj, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:length]


@dataclass(frozen=True)
class Task:
    """One episode's specification: which environment, which task, and what the agent is asked."""

    env_id: str
    """Registered environment name, e.g. ``"webshop"``."""
    task_id: str
    """Identifier unique within the environment (WebShop: the goal index as a string)."""
    instruction: str
    """The natural-language instruction the agent receives."""
    split: str | None = None
    """Split the task belongs to (``train``/``valid``/``test``), when known."""


@dataclass(frozen=True)
class Step:
    """One agent turn and the environment's answer to it."""

    text: str
    """The policy's full reply, ReAct form: ``Thought: ...\\nAction: ...``."""
    action: str | None
    """The parsed action sent to the environment; ``None`` when the reply had no parsable action."""
    observation: str
    """What the environment (or the format checker) answered."""
    reward: float = 0.0
    """Environment reward returned by this step (WebShop: non-zero only on purchase)."""
    done: bool = False
    """Whether the environment ended the episode at this step."""
    info: dict[str, Any] = field(default_factory=dict)
    """Environment extras (e.g. WebShop's reward breakdown on purchase)."""


@dataclass(frozen=True)
class Trajectory:
    """A complete episode: the task, every step, the outcome and how it stopped."""

    env_id: str
    env_version: str
    task_id: str
    instruction: str
    initial_observation: str
    steps: tuple[Step, ...]
    final_reward: float
    """Outcome reward r_o, usually in [0, 1] (WebShop: the purchase reward; 0 when no purchase); see
    :func:`final_reward_of`."""
    stop_reason: StopReason
    policy: str = ""
    """Policy spec that produced the episode, e.g. ``expert`` or ``hf:runs/sft``."""
    seed: int | None = None
    """Seed of the episode's random draws (policy sampling), ``None`` for fully greedy runs."""
    success_threshold: float = 1.0
    prefix_steps: int = 0
    """Leading steps replayed from a given action prefix (e.g. an expert prefix in IPR exploration),
    not chosen by ``policy``; the policy acted from step ``prefix_steps`` on."""

    @property
    def success(self) -> bool:
        """True when the outcome reward reaches the environment's success threshold (WebShop: 1.0)."""
        return self.final_reward >= self.success_threshold

    @property
    def actions(self) -> list[str | None]:
        """The parsed action of every step, ``None`` where the reply was malformed."""
        return [s.action for s in self.steps]

    @property
    def id(self) -> str:
        """Content hash of everything that defines the episode (not the policy label)."""
        return content_hash(
            {
                "env_id": self.env_id,
                "env_version": self.env_version,
                "task_id": self.task_id,
                "instruction": self.instruction,
                "initial_observation": self.initial_observation,
                "steps": [[s.text, s.action, s.observation, s.reward, s.done] for s in self.steps],
                "final_reward": self.final_reward,
                "stop_reason": self.stop_reason,
                "prefix_steps": self.prefix_steps,
            }
        )

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (includes the derived ``id`` and ``success`` for readers)."""
        d = asdict(self)
        d["steps"] = [asdict(s) for s in self.steps]
        d["id"] = self.id
        d["success"] = self.success
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Trajectory:
        """Inverse of :meth:`to_dict`; derived keys are ignored (and ``id`` is checked)."""
        fields = {k: v for k, v in d.items() if k not in ("id", "success")}
        fields["steps"] = tuple(Step(**s) for s in d["steps"])
        traj = cls(**fields)
        if "id" in d and d["id"] != traj.id:
            raise ValueError(
                f"trajectory {d['id']} (task {d.get('task_id')}) does not match its content hash "
                f"{traj.id}: the record was edited after it was written"
            )
        return traj


@dataclass(frozen=True)
class Metric:
    """A scalar metric with its sample size and (optional) 95% confidence interval."""

    value: float
    n: int
    ci_low: float | None = None
    ci_high: float | None = None


@dataclass(frozen=True)
class EvalResult:
    """What an evaluation produced: metrics, per-task outcomes and full provenance."""

    env_id: str
    env_version: str
    split: str
    policy: str
    metrics: dict[str, Metric]
    per_task: dict[str, float]
    """task id -> final reward."""
    provenance: dict[str, Any]
    schema_version: str = "1"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form, as written to ``results.json``."""
        d = asdict(self)
        d["metrics"] = {k: asdict(m) for k, m in self.metrics.items()}
        return d


@dataclass(frozen=True)
class StepReward:
    """A Monte-Carlo estimate r_s of one action, keyed so it is computed once and reused (IPR §3.2)."""

    trajectory_id: str
    step_index: int
    """0-based index of the scored action within the trajectory."""
    scorer: str
    """Identifier of the scorer policy (e.g. the SFT model's content hash)."""
    n: int
    temperature: float
    seed: int
    value: float
    """Mean final reward of the ``n`` rollouts (or the env reward for a terminal action)."""
    samples: tuple[float, ...] = ()
    """The rollouts' final rewards (empty for a terminal action)."""
    terminal: bool = False

    @property
    def key(self) -> tuple[str, int, str, int, float, int]:
        """The cache key: (trajectory id, step index, scorer, N, temperature, seed)."""
        return (self.trajectory_id, self.step_index, self.scorer, self.n, self.temperature, self.seed)


@dataclass(frozen=True)
class Pair:
    """A preference pair in TRL's conversational format plus how and why it was built."""

    prompt: tuple[dict[str, str], ...]
    chosen: tuple[dict[str, str], ...]
    rejected: tuple[dict[str, str], ...]
    level: Literal["outcome", "step"]
    step_index: int
    """0-based index of the first action where chosen and rejected differ (0 for outcome pairs)."""
    chosen_reward: float
    rejected_reward: float
    builder: str
    builder_version: str
    env_id: str = ""
    task_id: str = ""
    chosen_trajectory_id: str = ""
    rejected_trajectory_id: str = ""
    winner: Literal["expert", "agent"] = "expert"

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form (message tuples become lists)."""
        d = asdict(self)
        for k in ("prompt", "chosen", "rejected"):
            d[k] = [dict(m) for m in d[k]]
        return d
