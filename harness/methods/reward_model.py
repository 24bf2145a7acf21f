"""IPR §5.5's step-reward-model variant inside a recipe (``estimate.method: learned``).

Iteration 1 estimates Monte-Carlo step rewards as usual and publishes them; ``iter1/reward_model``
downloads that iteration's published datasets BY COMMIT from the registry (expert trajectories,
explored trajectories, step rewards), turns every non-terminal scored action into a (history +
action -> r_s) example, holds out a seeded fraction of the tasks, trains the regressor
(:mod:`harness.training.reward_model`) from the SFT model on the rest, measures its agreement with
Monte-Carlo on the held-out tasks and writes a model card. Iterations >= 2 then score their targets
with one forward pass each instead of N rollouts (:func:`estimate_learned`).

Choices where the paper is silent (each recorded in the card and the manifest):
- terminal actions keep the environment's outcome (they need no rollouts under Monte-Carlo either),
  so the model is trained and used on non-terminal actions only;
- predictions are clipped to [0, 1], the range of r_s;
- in learned iterations the expert actions are scored by the model too (not the iteration-1 Monte-
  Carlo values): a step pair compares two estimates of the same scorer;
- the model used is the one trained WITHOUT the held-out tasks, so the agreement figures describe it.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from dataclasses import dataclass, fields
from typing import Any

from harness.training.reward_model import RewardModelSettings
from harness.types import StepReward, Trajectory

ESTIMATE_METHODS = ("monte_carlo", "learned")
SCORER_PREFIX = "reward_model:"


@dataclass
class RewardModelSection(RewardModelSettings):
    """The learned step reward model (IPR §5.5): where its data comes from and how it is trained."""

    held_out: float = 0.2
    """Share of the labelled tasks held out of training to measure agreement with Monte-Carlo (choice)."""
    score_batch_size: int = 16
    """Actions per forward pass when the model scores an iteration's targets."""

    def training(self) -> RewardModelSettings:
        """The trainer's settings (this section less its own keys)."""
        return RewardModelSettings(**{f.name: getattr(self, f.name) for f in fields(RewardModelSettings)})


def clip(x: float) -> float:
    """A prediction moved into [0, 1], the range of r_s."""
    return min(1.0, max(0.0, x))


def labelled_examples(step_rewards: list[StepReward], trajectories: list[Trajectory],
                      icl_messages: Sequence[dict[str, str]] = ()) -> list[dict[str, Any]]:  # fmt: skip
    """One example per scored action: its task, trajectory, step, history (messages after the first
    ``step`` actions, with the in-context example turns ``icl_messages`` the Monte-Carlo scorer saw),
    action text, MC value and whether it was terminal."""
    from harness.pairs.ipr import prompt_at

    by_id = {t.id: t for t in trajectories}
    out = []
    for r in step_rewards:
        traj = by_id.get(r.trajectory_id)
        if traj is None:
            raise ValueError(f"step reward of trajectory {r.trajectory_id} step {r.step_index}: no such trajectory in the "
                             "downloaded expert or explored data (were they published by the same run?)")  # fmt: skip
        out.append({"task_id": traj.task_id, "trajectory_id": traj.id, "step": r.step_index,
                    "prompt": list(prompt_at(traj, r.step_index, icl_messages)), "action": traj.steps[r.step_index].text,
                    "value": r.value, "terminal": r.terminal})  # fmt: skip
    return out


def held_out_tasks(task_ids: list[str], fraction: float, seed: int) -> set[str]:
    """A seeded ``fraction`` of the distinct ``task_ids`` (at least one when the fraction is positive
    and at least one task stays for training)."""
    tasks = sorted(set(task_ids))
    k = min(len(tasks) - 1, max(1, round(fraction * len(tasks)))) if fraction > 0 else 0
    return set(random.Random(f"reward_model:{seed}").sample(tasks, max(k, 0)))


def pearson(x: list[float], y: list[float]) -> float | None:
    """Pearson's r (None with fewer than two points or a constant side)."""
    n = len(x)
    if n < 2:
        return None
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y, strict=True))
    sxx, syy = sum((a - mx) ** 2 for a in x), sum((b - my) ** 2 for b in y)
    return sxy / (sxx * syy) ** 0.5 if sxx > 0 and syy > 0 else None


def _ranks(x: list[float]) -> list[float]:
    order = sorted(range(len(x)), key=lambda i: x[i])
    ranks = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2  # ties share their mean rank
        i = j + 1
    return ranks


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rho: Pearson's r of the ranks (ties averaged)."""
    return pearson(_ranks(x), _ranks(y))


def pair_decisions(experts: list[Trajectory], explored: list[Trajectory], rewards: dict[tuple[str, int], StepReward],
                   config: Any) -> dict[tuple[str, int], str]:  # fmt: skip
    """IPR's step-pair decision at every explored prefix j >= 1, as :func:`harness.pairs.ipr.build_ipr_pairs`
    makes it with ``rewards``: ``expert`` (expert suffix chosen), ``agent``, or ``none`` (no pair)."""
    from dataclasses import replace

    from harness.pairs.ipr import build_ipr_pairs

    by_task = {e.task_id: e for e in experts}
    step_only = replace(config, outcome_pairs=False)
    out: dict[tuple[str, int], str] = {}
    for x in explored:
        e = by_task.get(x.task_id)
        if e is None or x.prefix_steps < 1:
            continue
        _, st = build_ipr_pairs([e], [x], rewards, step_only)
        if st.missing_rewards:
            continue
        out[(x.task_id, x.prefix_steps)] = "expert" if st.step_expert_wins else "agent" if st.step_agent_wins else "none"
    return out


def agreement(mc: list[float], rm: list[float], decisions_mc: dict, decisions_rm: dict, tau: float,
              pairs_mc: list[tuple[float, float]], pairs_rm: list[tuple[float, float]]) -> dict[str, Any]:  # fmt: skip
    """Agreement of the model with Monte-Carlo: correlations and errors over actions, and how often
    IPR's pair decisions are the same (the full rule of the pair builder, and the step-reward
    comparison alone: sign of r_s(expert) - r_s(agent) beyond tau, else none)."""

    def order(a: float, b: float) -> str:
        return "expert" if a - b > tau else "agent" if b - a > tau else "none"

    keys = sorted(set(decisions_mc) & set(decisions_rm))
    same = sum(decisions_mc[k] == decisions_rm[k] for k in keys)
    cmp_same = sum(order(*a) == order(*b) for a, b in zip(pairs_mc, pairs_rm, strict=True))
    n = len(mc)
    return {
        "actions": n,
        "pearson": pearson(rm, mc),
        "spearman": spearman(rm, mc),
        "mae": sum(abs(a - b) for a, b in zip(rm, mc, strict=True)) / n if n else None,
        "rmse": (sum((a - b) ** 2 for a, b in zip(rm, mc, strict=True)) / n) ** 0.5 if n else None,
        "mc_mean": sum(mc) / n if n else None,
        "rm_mean": sum(rm) / n if n else None,
        "pair_decisions": len(keys),
        "pair_decision_agreement": same / len(keys) if keys else None,
        "pair_decisions_mc": {d: sum(decisions_mc[k] == d for k in keys) for d in ("expert", "agent", "none")},
        "pair_decisions_rm": {d: sum(decisions_rm[k] == d for k in keys) for d in ("expert", "agent", "none")},
        "step_comparisons": len(pairs_mc),
        "step_comparison_agreement": cmp_same / len(pairs_mc) if pairs_mc else None,
        "tau": tau,
    }
