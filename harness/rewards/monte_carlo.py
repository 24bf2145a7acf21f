"""Monte-Carlo step rewards (IPR §3.2) and action efficiency (IPR §5.4).

Step reward of the t-th action of a trajectory, estimated with a fixed scorer policy pi_s:

    r_s(s_t, a_t) = (1/N) * sum_{k=1..N} r_o(rollout_k)

where rollout k resets the task, replays the trajectory's replies a_1..a_t (so a_t has been
executed), then lets pi_s finish the episode sampling at temperature 1; r_o is its final reward.
When the episode is already over after a_t (the terminal action, e.g. ``click[Buy Now]``, or the
step budget ran out) there is nothing to roll out: r_s is the environment's outcome (its reward
when the environment ended the episode, 0 when the budget did). Every step is scored, malformed
replies included: each used up one of the agent's steps.

Action efficiency ("average reward per step"): the mean of r_s over a trajectory's steps, then
the mean over trajectories (trajectories without any step are left out and counted).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.envs.base import Environment
from harness.policies.base import Policy, Sampling
from harness.rollout import EpisodeSpec, play_specs
from harness.types import Trajectory, final_reward_of

METRIC_VERSION = "ipr-mc-1"
DEFAULT_N_ROLLOUTS = 5
"""N, the Monte-Carlo rollouts per scored step (IPR §3.2); every caller's default."""


@dataclass(frozen=True)
class ActionEfficiency:
    """Action efficiency of a set of trajectories and everything needed to recompute it."""

    value: float
    """Mean over scored trajectories of the mean step reward within each trajectory."""
    per_trajectory: list[float | None]
    """Each trajectory's mean step reward (``None``: no steps); bootstrap CIs resample these."""
    step_rewards: list[list[float]]
    """r_s of every step of every trajectory, in order."""
    n: int
    """Number of trajectories that contributed (had at least one step)."""
    scorer: str
    n_rollouts: int
    temperature: float
    seed: int
    rollouts: int
    """How many scorer episodes were played."""
    version: str = METRIC_VERSION
    settings: dict = field(default_factory=dict)


def rollout_seed(seed: int, trajectory_id: str, step: int, k: int) -> int:
    """The episode seed of rollout k after step ``step`` of a trajectory: distinct and reproducible."""
    digest = hashlib.sha256(f"mc:{seed}:{trajectory_id}:{step}:{k}".encode()).digest()
    return int.from_bytes(digest[:8], "little") >> 1


@dataclass(frozen=True)
class StepScore:
    """r_s of one action: the rollouts' final rewards, or the outcome when the episode had ended."""

    value: float
    samples: tuple[float, ...]
    terminal: bool


@dataclass(frozen=True)
class RolloutPlan:
    """The rollouts that score a list of (trajectory, step) targets, and the targets needing none."""

    fixed: dict[int, StepScore]
    """Targets whose episode was over after the action: scored by the environment's outcome."""
    targets: list[int]
    """The target index of each rollout, in the order of ``specs``."""
    specs: list[EpisodeSpec]
    n_targets: int
    n_rollouts: int


def plan_rollouts(
    targets: Sequence[tuple[Trajectory, int]], n_rollouts: int, seed: int, budget: int
) -> RolloutPlan:
    """The N rollouts of every target action whose episode goes on after it (formula in the module
    docstring): each replays the trajectory's replies up to and including step t, with the seed
    :func:`rollout_seed` (seed, trajectory id, t, k). ``budget`` is the step budget the trajectories
    were played with (replayed steps count against it)."""
    if n_rollouts < 1:
        raise ValueError(f"n_rollouts must be at least 1, got {n_rollouts}")
    fixed: dict[int, StepScore] = {}
    owners: list[int] = []
    specs: list[EpisodeSpec] = []
    for i, (traj, t) in enumerate(targets):
        step = traj.steps[t]
        ended_by_env = step.done and not step.info.get("truncated")
        if ended_by_env or step.done or t + 1 >= budget:
            fixed[i] = StepScore(final_reward_of(traj.steps[: t + 1], "done" if ended_by_env else "max_steps"), (), True)
            continue
        prefix = tuple(s.text for s in traj.steps[: t + 1])
        for k in range(n_rollouts):
            owners.append(i)
            specs.append(EpisodeSpec(traj.task_id, rollout_seed(seed, traj.id, t, k), prefix, budget))
    return RolloutPlan(fixed, owners, specs, len(targets), n_rollouts)


def final_reward_row(trajectory: Trajectory) -> dict[str, Any]:
    """What a Monte-Carlo rollout keeps of its episode: the final reward (a picklable row function)."""
    return {"final_reward": trajectory.final_reward}


def collect_scores(plan: RolloutPlan, final_rewards: Sequence[float]) -> list[StepScore]:
    """r_s of every target: the mean of its rollouts' final rewards (given in ``plan.specs`` order),
    or its fixed outcome."""
    if len(final_rewards) != len(plan.specs):
        raise ValueError(f"got {len(final_rewards)} rollout rewards for {len(plan.specs)} rollouts")
    samples: dict[int, list[float]] = {}
    for i, r in zip(plan.targets, final_rewards, strict=True):
        samples.setdefault(i, []).append(float(r))
    return [
        plan.fixed[i] if i in plan.fixed else StepScore(sum(samples[i]) / plan.n_rollouts, tuple(samples[i]), False)
        for i in range(plan.n_targets)
    ]


def score_steps(
    make_env: Callable[[], Environment],
    targets: Sequence[tuple[Trajectory, int]],
    scorer: Policy,
    n_rollouts: int = DEFAULT_N_ROLLOUTS,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 512,
    seed: int = 0,
    max_steps: int | None = None,
    chunk_size: int = 128,
) -> tuple[list[StepScore], int]:
    """r_s of the action at step t of each (trajectory, t) target (formula in the module docstring),
    played in memory with ``scorer``, ``chunk_size`` episodes at a time (memory grows with it: each
    live episode holds its KV cache). Recipe stages plan the same rollouts and play them through the
    execution seam instead (checkpointed, on the recipe's backend). ``max_steps`` must be the budget
    the trajectories were played with. Returns the scores in target order and the rollouts played.
    """
    plan = plan_rollouts(targets, n_rollouts, seed, max_steps or make_env().max_steps)
    sampling = Sampling(temperature=temperature, top_p=top_p, max_new_tokens=max_new_tokens)
    finals: list[float] = []
    for start in range(0, len(plan.specs), chunk_size):
        finals += [t.final_reward for t in play_specs(make_env, plan.specs[start : start + chunk_size], scorer, sampling)]
    return collect_scores(plan, finals), len(plan.specs)


def step_rewards(
    make_env: Callable[[], Environment],
    trajectories: Sequence[Trajectory],
    scorer: Policy,
    n_rollouts: int = DEFAULT_N_ROLLOUTS,
    temperature: float = 1.0,
    top_p: float = 1.0,
    max_new_tokens: int = 512,
    seed: int = 0,
    max_steps: int | None = None,
    chunk_size: int = 128,
) -> tuple[list[list[float]], int]:
    """r_s of every step of every trajectory (see :func:`score_steps`) and the rollout count."""
    targets = [(traj, t) for traj in trajectories for t in range(len(traj.steps))]
    scores, rollouts = score_steps(
        make_env, targets, scorer, n_rollouts, temperature, top_p, max_new_tokens, seed, max_steps, chunk_size
    )
    it = iter(scores)
    return [[next(it).value for _ in traj.steps] for traj in trajectories], rollouts


def action_efficiency(
    make_env: Callable[[], Environment],
    trajectories: Sequence[Trajectory],
    scorer: Policy,
    n_rollouts: int = DEFAULT_N_ROLLOUTS,
    temperature: float = 1.0,
    seed: int = 0,
    max_steps: int | None = None,
    max_new_tokens: int = 512,
    chunk_size: int = 128,
) -> ActionEfficiency:
    """IPR's action efficiency of ``trajectories`` with scorer ``scorer`` (N = ``n_rollouts``).

    AE = (1/|J|) * sum_{j in J} (1/n_j) * sum_{t=1..n_j} r_s(s_t^j, a_t^j), J = trajectories with
    n_j >= 1 steps. Paper setting: the SFT model as scorer, N = 5, temperature 1.
    """
    per_step, rollouts = step_rewards(
        make_env, trajectories, scorer, n_rollouts=n_rollouts, temperature=temperature,
        max_new_tokens=max_new_tokens, seed=seed, max_steps=max_steps, chunk_size=chunk_size,
    )  # fmt: skip
    return summarize_action_efficiency(
        per_step, rollouts, scorer=getattr(scorer, "name", type(scorer).__name__), n_rollouts=n_rollouts,
        temperature=temperature, seed=seed, settings={"max_steps": max_steps, "max_new_tokens": max_new_tokens},
    )  # fmt: skip


def summarize_action_efficiency(
    per_step: list[list[float]], rollouts: int, scorer: str, n_rollouts: int, temperature: float, seed: int,
    settings: dict[str, Any],
) -> ActionEfficiency:  # fmt: skip
    """AE from per-trajectory step rewards already estimated (formula in :func:`action_efficiency`);
    lets a caller estimate the rewards in checkpointed chunks of trajectories."""
    means = [sum(r) / len(r) if r else None for r in per_step]
    scored = [m for m in means if m is not None]
    return ActionEfficiency(
        value=sum(scored) / len(scored) if scored else 0.0,
        per_trajectory=means,
        step_rewards=per_step,
        n=len(scored),
        scorer=scorer,
        n_rollouts=n_rollouts,
        temperature=temperature,
        seed=seed,
        rollouts=rollouts,
        settings=settings,
    )
