"""IPR pair construction on hand-built trajectories: every rule of the released script."""

from __future__ import annotations

from dataclasses import replace

from harness.pairs.ipr import IPRPairConfig, build_ipr_pairs
from harness.types import Step, StepReward, Trajectory


def traj(actions: list[str], final: float, prefix: int = 0, task: str = "t1", policy: str = "x") -> Trajectory:
    steps = tuple(Step(text=f"Thought: t{i}\nAction: {a}", action=a, observation=f"obs after {a}") for i, a in enumerate(actions))
    return Trajectory("webshop", "v", task, "buy a thing", "start page", steps, final, "done", policy=policy, prefix_steps=prefix)


EXPERT = traj(["search[a]", "click[b]", "click[buy now]"], 1.0, policy="expert")


def rewards(*entries: tuple[Trajectory, int, float]) -> dict:
    return {(t.id, j): StepReward(t.id, j, "sft", 5, 1.0, 0, v) for t, j, v in entries}


def test_outcome_pair_when_agent_episode_is_worse():
    agent = traj(["search[z]", "click[q]", "click[buy now]"], 0.4)
    pairs, stats = build_ipr_pairs([EXPERT], [agent], {})
    assert stats.outcome_expert_wins == 1 and len(pairs) == 1
    p = pairs[0]
    assert p.level == "outcome" and p.winner == "expert" and p.step_index == 0
    assert [m["role"] for m in p.prompt] == ["user", "assistant", "user"]
    assert p.prompt[2]["content"] == "Observation:\nstart page"
    assert [m["content"] for m in p.chosen if m["role"] == "assistant"] == [s.text for s in EXPERT.steps]
    assert p.chosen[-1]["role"] == "assistant" and p.rejected[-1]["role"] == "assistant"  # final observation dropped
    assert (p.chosen_reward, p.rejected_reward) == (1.0, 0.4)


def test_outcome_tie_within_threshold_is_dropped_and_agent_may_win():
    same = traj(["search[z]", "click[buy now]"], 0.995)
    assert build_ipr_pairs([EXPERT], [same], {})[0] == []
    weak_expert = traj(["search[a]", "click[buy now]"], 0.5, policy="expert")
    better = traj(["search[z]", "click[buy now]"], 0.9)
    pairs, stats = build_ipr_pairs([weak_expert], [better], {})
    assert stats.outcome_agent_wins == 1 and pairs[0].winner == "agent"
    assert build_ipr_pairs([weak_expert], [better], {}, IPRPairConfig(both_directions=False))[0] == []


def test_step_pair_needs_both_outcome_and_step_reward_gaps():
    x1 = traj(["search[a]", "click[wrong]", "click[buy now]"], 0.3, prefix=1)
    base = (EXPERT, 1, 0.9)
    pairs, _ = build_ipr_pairs([EXPERT], [x1], rewards(base, (x1, 1, 0.5)))
    assert len(pairs) == 1
    p = pairs[0]
    assert p.level == "step" and p.step_index == 1 and p.winner == "expert"
    assert p.prompt[-1]["content"] == "Observation:\nobs after search[a]"  # conditioned on the expert prefix
    assert p.chosen[0]["content"].endswith("click[b]") and p.rejected[0]["content"].endswith("click[wrong]")
    assert (p.chosen_reward, p.rejected_reward) == (0.9, 0.5)
    # step rewards within tau -> no pair, although the outcome differs
    assert build_ipr_pairs([EXPERT], [x1], rewards(base, (x1, 1, 0.895)))[0] == []
    # a larger tau (the paper's ALFWorld value) drops a gap of 0.4
    assert build_ipr_pairs([EXPERT], [x1], rewards(base, (x1, 1, 0.5)), IPRPairConfig(tau=0.5))[0] == []


def test_missing_step_reward_is_counted_not_guessed():
    x1 = traj(["search[a]", "click[wrong]"], 0.0, prefix=1)
    pairs, stats = build_ipr_pairs([EXPERT], [x1], rewards((EXPERT, 1, 0.9)))
    assert pairs == [] and stats.missing_rewards == 1


def test_shorter_agent_suffix_wins_only_when_enabled():
    x1 = traj(["search[a]", "click[buy now]"], 1.0, prefix=1)
    r = rewards((EXPERT, 1, 0.6), (x1, 1, 0.9))
    assert build_ipr_pairs([EXPERT], [x1], r)[0] == []
    pairs, stats = build_ipr_pairs([EXPERT], [x1], r, IPRPairConfig(shorter_wins_at_equal_outcome=True))
    assert stats.step_agent_wins == 1 and pairs[0].winner == "agent"


def test_single_action_variant_keeps_one_turn():
    x1 = traj(["search[a]", "click[wrong]", "click[buy now]"], 0.3, prefix=1)
    pairs, _ = build_ipr_pairs([EXPERT], [x1], rewards((EXPERT, 1, 0.9), (x1, 1, 0.1)), IPRPairConfig(single_action=True))
    assert len(pairs[0].chosen) == 1 and len(pairs[0].rejected) == 1


def test_single_action_pair_with_identical_sides_is_dropped_and_counted():
    # the agent's first action equals the expert's; its episode went wrong later
    agent = traj(["search[a]", "click[wrong]", "click[buy now]"], 0.3)
    pairs, stats = build_ipr_pairs([EXPERT], [agent], {}, IPRPairConfig(single_action=True))
    assert pairs == [] and stats.identical == 1 and stats.outcome_expert_wins == 0
    full, stats = build_ipr_pairs([EXPERT], [agent], {})
    assert len(full) == 1 and stats.identical == 0


def test_single_action_pair_differing_only_in_thought_is_dropped():
    x1 = traj(["search[a]", "click[b]", "click[wrong]"], 0.2, prefix=1)
    other_thought = Step("Thought: other\nAction: CLICK[b] ", "CLICK[b] ", "o")  # the expert's action, other words
    x1 = replace(x1, steps=(x1.steps[0], other_thought, x1.steps[2]))
    r = rewards((EXPERT, 1, 0.9), (x1, 1, 0.1))
    pairs, stats = build_ipr_pairs([EXPERT], [x1], r, IPRPairConfig(single_action=True))
    assert pairs == [] and stats.identical == 1 and stats.step_expert_wins == 0
    assert len(build_ipr_pairs([EXPERT], [x1], r)[0]) == 1  # whole suffixes differ: kept
