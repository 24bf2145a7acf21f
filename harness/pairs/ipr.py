"""IPR's contrastive pairs (Xiong et al. 2024, §3.3), as the authors' released script builds them.

For an expert trajectory e = (a_1, o_1, ..., a_n) with final reward R_e, and explored trajectories
x_j (the first j expert actions replayed, then the agent from a'_{j+1} on; final reward R_j):

- Outcome pair (j = 0, the agent's own full episode): the expert's full trajectory vs the agent's,
  kept when |R_e - R_0| > outcome_threshold; the higher final reward is chosen (either side may win).
- Step pair at prefix j >= 1, prompt = task + expert turns up to o_j, continuations = expert suffix
  e_{j+1:n} vs agent suffix x_j[j:]:
    expert wins when R_e - R_j > outcome_threshold and r_s(a_{j+1}) - r_s(a'_{j+1}) > tau;
    agent wins (script only, ``both_directions``) when
      (R_j - R_e > outcome_threshold or [shorter_wins_at_equal_outcome and the agent suffix is
      shorter]) and r_s(a'_{j+1}) - r_s(a_{j+1}) > tau.
  ``single_action`` keeps only the step-(j+1) action as each continuation (off in the paper).

A pair whose two sides say the same thing carries no preference and is dropped (counted as
``identical``, not as a win): identical continuations, or with ``single_action`` the same action
(thoughts aside). This happens with ``single_action``, when the agent's action at the prefix is the
expert's but the rest of its episode did worse.

Continuations end with the last action (the final observation is dropped); prompts carry the run's
in-context example turns (a recipe's ``prompt.icl``; none at 0-shot), as the policy saw them when it
played, and continuations never do.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from harness.prompting import HEADER_TURNS, build_messages
from harness.types import Pair, StepReward, Trajectory

BUILDER = "ipr"
BUILDER_VERSION = "2"  # 2: pairs with identical sides are dropped


@dataclass(frozen=True)
class IPRPairConfig:
    """Thresholds and switches; defaults are the released script's values."""

    outcome_threshold: float = 0.01
    """Minimum final-reward gap (script: 0.01)."""
    tau: float = 0.01
    """Minimum step-reward gap (paper: WebShop 0.01, InterCodeSQL 0.1, ALFWorld 0.5; script: 0.01 for all)."""
    outcome_pairs: bool = True
    step_pairs: bool = True
    both_directions: bool = True
    """Also keep pairs where the agent wins (script behaviour; the paper describes expert wins)."""
    shorter_wins_at_equal_outcome: bool = False
    """Script behaviour on ALFWorld: a shorter agent suffix may win without a better final reward."""
    single_action: bool = False


@dataclass
class PairStats:
    """Counts of what the builder saw and kept, for the report."""

    outcome_expert_wins: int = 0
    outcome_agent_wins: int = 0
    step_expert_wins: int = 0
    step_agent_wins: int = 0
    ties: int = 0
    missing_rewards: int = 0
    identical: int = 0


def continuation(traj: Trajectory, start: int, single_action: bool) -> tuple[dict[str, str], ...]:
    """The turns of ``traj`` from its action a_{start+1} on (only that action when ``single_action``)."""
    msgs = build_messages(traj.env_id, traj.initial_observation, traj.steps)
    body = msgs[HEADER_TURNS + 1 + 2 * start : -1]  # from action a_{start+1}, dropping the final observation
    return tuple(body[:1] if single_action else body)


def prompt_at(expert: Trajectory, j: int, icl_messages: Sequence[dict[str, str]] = ()) -> tuple[dict[str, str], ...]:
    """The chat history of ``expert`` after its first ``j`` actions (ends with an observation turn),
    with ``icl_messages`` (in-context example turns) after the task description, as in the rollouts."""
    msgs = build_messages(expert.env_id, expert.initial_observation, expert.steps, icl_messages=icl_messages)
    return tuple(msgs[: HEADER_TURNS + len(icl_messages) + 1 + 2 * j])


def same_action(a: str | None, b: str | None) -> bool:
    """Whether two parsed actions are the same command (case and surrounding space ignored)."""
    if a is None or b is None:
        return False
    return " ".join(a.lower().split()) == " ".join(b.lower().split())


def _pair(expert: Trajectory, agent: Trajectory, j: int, expert_wins: bool, level: str,
          rewards: tuple[float, float], single: bool, icl: Sequence[dict[str, str]] = ()) -> Pair | None:  # fmt: skip
    """The pair, or None when its two sides say the same thing."""
    exp_c, agent_c = continuation(expert, j, single), continuation(agent, j, single)
    if exp_c == agent_c or (single and same_action(expert.steps[j].action, agent.steps[j].action)):
        return None
    chosen, rejected = (exp_c, agent_c) if expert_wins else (agent_c, exp_c)
    exp_r, agent_r = rewards
    return Pair(
        prompt=prompt_at(expert, j, icl),
        chosen=chosen,
        rejected=rejected,
        level=level,  # type: ignore[arg-type]
        step_index=j,
        chosen_reward=exp_r if expert_wins else agent_r,
        rejected_reward=agent_r if expert_wins else exp_r,
        builder=BUILDER,
        builder_version=BUILDER_VERSION,
        env_id=expert.env_id,
        task_id=expert.task_id,
        chosen_trajectory_id=(expert if expert_wins else agent).id,
        rejected_trajectory_id=(agent if expert_wins else expert).id,
        winner="expert" if expert_wins else "agent",
    )


def build_ipr_pairs(
    experts: Iterable[Trajectory],
    explored: Iterable[Trajectory],
    step_rewards: Mapping[tuple[str, int], StepReward],
    config: IPRPairConfig = IPRPairConfig(),
    icl_messages: Sequence[dict[str, str]] = (),
) -> tuple[list[Pair], PairStats]:
    """Build outcome and step pairs (see module doc); ``step_rewards`` maps (trajectory id, step) -> r_s.

    ``explored`` trajectories are matched to experts by task id and ``prefix_steps`` (= j);
    ``icl_messages``: the in-context example turns the trajectories were played with (prompts only).
    """
    by_task: dict[str, dict[int, Trajectory]] = {}
    for x in explored:
        by_task.setdefault(x.task_id, {})[x.prefix_steps] = x
    pairs: list[Pair] = []
    stats = PairStats()

    def keep(pair: Pair | None) -> bool:
        """Keep ``pair`` (True), or count it as identical (False); the win counters count kept pairs."""
        if pair is None:
            stats.identical += 1
            return False
        pairs.append(pair)
        return True

    thr, tau = config.outcome_threshold, config.tau
    for e in experts:
        for j, x in sorted(by_task.get(e.task_id, {}).items()):
            if j >= len(e.steps) or len(x.steps) <= j:
                continue
            r_e, r_x = e.final_reward, x.final_reward
            if j == 0:
                if not config.outcome_pairs:
                    continue
                if r_e - r_x > thr:
                    stats.outcome_expert_wins += keep(_pair(e, x, 0, True, "outcome", (r_e, r_x), config.single_action, icl_messages))
                elif config.both_directions and r_x - r_e > thr:
                    stats.outcome_agent_wins += keep(_pair(e, x, 0, False, "outcome", (r_e, r_x), config.single_action, icl_messages))
                else:
                    stats.ties += 1
                continue
            if not config.step_pairs:
                continue
            s_e, s_x = step_rewards.get((e.id, j)), step_rewards.get((x.id, j))
            if s_e is None or s_x is None:
                stats.missing_rewards += 1
                continue
            shorter = config.shorter_wins_at_equal_outcome and len(x.steps) - j < len(e.steps) - j
            if r_e - r_x > thr and s_e.value - s_x.value > tau:
                stats.step_expert_wins += keep(_pair(e, x, j, True, "step", (s_e.value, s_x.value), config.single_action, icl_messages))
            elif config.both_directions and (r_x - r_e > thr or shorter) and s_x.value - s_e.value > tau:
                stats.step_agent_wins += keep(_pair(e, x, j, False, "step", (s_e.value, s_x.value), config.single_action, icl_messages))
            else:
                stats.ties += 1
    return pairs, stats
