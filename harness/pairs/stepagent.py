"""StepAgent's step-level pairs (Deng et al. 2024, "inspection"): at the expert prefix s_i, the expert's
action is chosen and the agent's own sampled action a_i ~ pi(.|s_i) is rejected.

Only the one action differs, so chosen and rejected are single assistant turns after the same prompt.
A sample whose action equals the expert's is dropped (it carries no contrast). StepAgent has no
environment rewards on these pairs: ``chosen_reward``/``rejected_reward`` are the imitation labels
1 (expert) and 0 (agent), not returns.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from harness.pairs.ipr import continuation, prompt_at, same_action
from harness.types import Pair, Trajectory

BUILDER = "stepagent"
BUILDER_VERSION = "1"


def inspected_step(expert: Trajectory, sample: Trajectory) -> tuple[int, Trajectory] | None:
    """``(j, sample)`` when ``sample`` replayed the expert's first j actions and then acted once; else None."""
    j = sample.prefix_steps
    if sample.task_id != expert.task_id or j >= len(expert.steps) or len(sample.steps) <= j:
        return None
    return j, sample


def build_stepagent_pairs(
    experts: Iterable[Trajectory], inspected: Iterable[Trajectory], drop_equal: bool = True,
    icl_messages: Sequence[dict[str, str]] = (),
) -> tuple[list[Pair], dict[str, int]]:
    """Pairs (expert action chosen, agent action rejected) at every inspected expert prefix; prompts
    carry ``icl_messages``, the in-context example turns the inspection was played with.

    ``inspected`` are episodes that replayed ``prefix_steps`` = j expert actions and then let the agent
    act once (step j); several samples per (task, j) give several pairs. Returns the pairs and counts
    (``pairs``, ``equal_dropped``, ``unmatched``).
    """
    by_task = {e.task_id: e for e in experts}
    pairs: list[Pair] = []
    stats = {"pairs": 0, "equal_dropped": 0, "unmatched": 0}
    for x in inspected:
        e = by_task.get(x.task_id)
        hit = inspected_step(e, x) if e is not None else None
        if hit is None:
            stats["unmatched"] += 1
            continue
        j, _ = hit
        if drop_equal and same_action(e.steps[j].action, x.steps[j].action):
            stats["equal_dropped"] += 1
            continue
        pairs.append(
            Pair(
                prompt=prompt_at(e, j, icl_messages),
                chosen=continuation(e, j, single_action=True),
                rejected=continuation(x, j, single_action=True),
                level="step",
                step_index=j,
                chosen_reward=1.0,
                rejected_reward=0.0,
                builder=BUILDER,
                builder_version=BUILDER_VERSION,
                env_id=e.env_id,
                task_id=e.task_id,
                chosen_trajectory_id=e.id,
                rejected_trajectory_id=x.id,
                winner="expert",
            )
        )
    stats["pairs"] = len(pairs)
    return pairs, stats
