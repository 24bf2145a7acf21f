"""The batched rollout engine: one act call per step, prefix replay, seeds, stop reasons."""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from harness.envs import make_env
from harness.policies import ContextOverflow, EpisodeView, Sampling, make_policy
from harness.prompting import INVALID_FORMAT
from harness.rollout import run_episodes


def webshop():
    return make_env("webshop")


TASKS = webshop().task_ids("test")[:6]


class Recording:
    """Wraps a policy and records the batch size of every act call."""

    def __init__(self, inner):
        self.inner, self.name, self.batches = inner, inner.name, []

    def act(self, episodes: Sequence[EpisodeView], sampling: Sampling) -> list[str]:
        self.batches.append(len(episodes))
        return self.inner.act(episodes, sampling)


class Scripted:
    """Answers every episode's k-th step with ``replies[k]``."""

    name = "scripted"

    def __init__(self, replies):
        self.replies = replies

    def act(self, episodes, sampling):
        return [self.replies[min(v.step_index, len(self.replies) - 1)] for v in episodes]


def test_one_batched_act_call_per_step_for_all_live_episodes():
    policy = Recording(make_policy("expert"))
    trajs = run_episodes(webshop, TASKS, policy)
    longest = max(len(t.steps) for t in trajs)
    assert len(policy.batches) == longest and policy.batches[0] == len(TASKS)
    assert policy.batches == sorted(policy.batches, reverse=True)  # finished episodes leave the batch
    assert all(t.stop_reason == "done" and t.final_reward > 0 for t in trajs)


def test_replaying_an_expert_prefix_continues_where_it_left_off():
    expert = run_episodes(webshop, TASKS, make_policy("expert"))
    prefixes = [[s.text for s in t.steps[:2]] for t in expert]
    policy = Recording(make_policy("expert"))
    resumed = run_episodes(webshop, TASKS, policy, prefixes=prefixes)
    for full, r in zip(expert, resumed, strict=True):
        assert [s.info.get("replayed", False) for s in r.steps[:3]] == [True, True, False]
        assert r.actions == full.actions and r.final_reward == full.final_reward
        assert r.steps[1].text == full.steps[1].text  # the expert's thoughts stay in the history
    assert policy.batches[0] == len(TASKS)  # the policy never answered a replayed step


def test_a_prefix_can_end_the_episode_or_be_too_long():
    expert = run_episodes(webshop, TASKS[:1], make_policy("expert"))[0]
    texts = [s.text for s in expert.steps]
    whole = run_episodes(webshop, TASKS[:1], Recording(make_policy("random")), prefixes=[texts])[0]
    assert whole.stop_reason == "done" and whole.final_reward == expert.final_reward
    assert all(s.info["replayed"] for s in whole.steps)
    with pytest.raises(ValueError, match=f"task {TASKS[0]}: the prefix has {len(texts) + 1} replies"):
        run_episodes(webshop, TASKS[:1], make_policy("random"), prefixes=[[*texts, "Action: click[back to search]"]])


def test_bare_actions_and_malformed_replies_replay_as_steps():
    traj = run_episodes(
        webshop, TASKS[:1], Scripted(["Thought: stop."]), prefixes=[["Action: search[red shoes]", "hmm"]], max_steps=3
    )[0]
    assert traj.steps[0].action == "search[red shoes]" and traj.steps[0].observation.startswith("Instruction:")
    assert traj.steps[1].action is None and traj.steps[1].observation == INVALID_FORMAT
    assert traj.stop_reason == "max_steps" and len(traj.steps) == 3 and traj.final_reward == 0.0


def test_invalid_format_uses_a_step_and_the_budget_ends_the_episode():
    trajs = run_episodes(webshop, TASKS[:2], Scripted(["I am not sure."]), max_steps=4)
    for t in trajs:
        assert [s.observation for s in t.steps] == [INVALID_FORMAT] * 4
        assert t.stop_reason == "max_steps" and t.final_reward == 0.0


def test_context_overflow_ends_the_episode_as_a_failure():
    class Overflowing:
        name = "overflowing"

        def act(self, episodes, sampling):
            return [ContextOverflow("too long") if v.step_index == 1 else "Action: search[tea]" for v in episodes]

    trajs = run_episodes(webshop, TASKS[:2], Overflowing())
    assert [t.stop_reason for t in trajs] == ["context_overflow"] * 2
    assert all(len(t.steps) == 1 and t.final_reward == 0.0 for t in trajs)


def test_a_model_that_outgrows_its_context_stops_with_context_overflow(tiny_model):
    from harness.policies.hf import HFPolicy

    expert = run_episodes(webshop, TASKS[:2], make_policy("expert"))
    policy = HFPolicy(str(tiny_model), device="cpu", context=400)  # the first page fits, a results page does not
    trajs = run_episodes(
        webshop, TASKS[:2], policy, Sampling(max_new_tokens=4), prefixes=[[t.steps[0].text] for t in expert]
    )
    assert all(t.stop_reason == "context_overflow" and t.final_reward == 0.0 and len(t.steps) == 1 for t in trajs)
    assert policy.stats.overflows == 2 and policy.stats.prompts == 0


def test_per_episode_seeds_make_each_episode_rerun_alone_identically():
    tasks = [TASKS[0], TASKS[0], TASKS[1]]
    batch = run_episodes(webshop, tasks, make_policy("random"), seeds=[1, 2, 1])
    assert batch[0].actions != batch[1].actions  # same task, other seed
    alone = run_episodes(webshop, [TASKS[0]], make_policy("random"), seed=2)[0]
    assert alone == batch[1] and alone.seed == 2


def test_in_context_example_turns_precede_the_task():
    example = [
        {"role": "user", "content": "Observation:\nexample page"},
        {"role": "assistant", "content": "Thought: t\nAction: search[x]"},
    ]
    seen = []

    class Peek(Scripted):
        def act(self, episodes, sampling):
            seen.append(episodes[0].messages[:5])
            return super().act(episodes, sampling)

    run_episodes(webshop, TASKS[:1], Peek(["Action: search[x]"]), max_steps=1, icl_messages=example)
    assert seen[0][2:4] == example and seen[0][4]["content"].startswith("Observation:\nWebShop")


def test_one_seed_and_prefix_per_episode_is_checked():
    with pytest.raises(ValueError, match="one per episode"):
        run_episodes(webshop, TASKS[:2], make_policy("random"), seeds=[1])


def test_a_logged_episode_becomes_a_one_shot_example():
    from harness.prompting import icl_messages_from

    example = run_episodes(webshop, TASKS[:1], make_policy("expert"))[0]
    turns = icl_messages_from(example)
    assert [t["role"] for t in turns] == ["user", "assistant"] * len(example.steps)
    assert turns[-1]["content"] == example.steps[-1].text
    traj = run_episodes(webshop, TASKS[1:2], make_policy("expert"), icl_messages=turns)[0]
    assert traj.final_reward > 0  # the example does not disturb the episode


class CappedWebshop:
    """WebShop environments that allow two live episodes per call and count how many were built."""

    built = 0

    def __init__(self):
        type(self).built += 1
        self.inner = make_env("webshop")
        self.max_live_episodes = 2

    def __getattr__(self, name):
        return getattr(self.inner, name)


def test_environments_that_cap_live_episodes_play_them_in_waves_with_the_same_results():
    uncapped = run_episodes(webshop, TASKS, make_policy("expert"))
    CappedWebshop.built = 0
    policy = Recording(make_policy("expert"))
    capped = run_episodes(CappedWebshop, TASKS, policy)
    assert CappedWebshop.built == 2 and max(policy.batches) == 2
    assert [t.to_dict() for t in capped] == [t.to_dict() for t in uncapped]


class PartialCredit:
    """A WebShop environment whose every step declares its reward as standing partial credit (0.5)."""

    def __init__(self):
        self.inner = make_env("webshop")

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def step(self, action):
        from dataclasses import replace

        r = self.inner.step(action)
        return r if r.done else replace(r, reward=0.5, info={**r.info, "partial_credit": True})


def test_partial_credit_stands_when_the_budget_ends_the_episode_but_not_after_a_malformed_reply():
    looking = Scripted(["Thought: look.\nAction: search[shirt]"])
    [t] = run_episodes(PartialCredit, TASKS[:1], looking, max_steps=3)
    assert (t.stop_reason, t.final_reward) == ("max_steps", 0.5)
    [plain] = run_episodes(webshop, TASKS[:1], looking, max_steps=3)
    assert (plain.stop_reason, plain.final_reward) == ("max_steps", 0.0)
    malformed_last = Scripted(["Thought: look.\nAction: search[shirt]", "Thought: look.\nAction: search[shirt]", "no action"])
    [m] = run_episodes(PartialCredit, TASKS[:1], malformed_last, max_steps=3)
    assert (m.stop_reason, m.final_reward) == ("max_steps", 0.0)
