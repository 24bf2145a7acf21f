"""Monte-Carlo step rewards and IPR's action efficiency (average reward per step)."""

from __future__ import annotations

import pytest

from harness.envs import make_env
from harness.policies import make_policy
from harness.rewards import action_efficiency, step_rewards
from harness.rollout import run_episodes


def webshop():
    return make_env("webshop")


TASKS = webshop().task_ids("test")[:4]


class Dawdler:
    """A scorer that never acts: every rollout runs out of steps with reward 0."""

    name = "dawdler"

    def act(self, episodes, sampling):
        return ["I will think about it."] * len(episodes)


@pytest.fixture(scope="module")
def expert_trajs():
    return run_episodes(webshop, TASKS, make_policy("expert"))


def test_an_oracle_scorer_values_every_expert_step_at_the_outcome(expert_trajs):
    rewards, rollouts = step_rewards(webshop, expert_trajs, make_policy("expert"), n_rollouts=3)
    for traj, row in zip(expert_trajs, rewards, strict=True):
        assert row == pytest.approx([traj.final_reward] * len(traj.steps))
    assert rollouts == 3 * sum(len(t.steps) - 1 for t in expert_trajs)  # terminal steps need no rollout


def test_action_efficiency_is_the_mean_over_trajectories_of_the_mean_step_reward(expert_trajs):
    # With a scorer that never finishes, only the terminal action earns its (environment) reward,
    # so each trajectory's mean step reward is final_reward / steps.
    ae = action_efficiency(webshop, expert_trajs, Dawdler(), n_rollouts=2)
    expected = [t.final_reward / len(t.steps) for t in expert_trajs]
    assert ae.per_trajectory == pytest.approx(expected)
    assert ae.value == pytest.approx(sum(expected) / len(expected))
    assert (ae.n, ae.n_rollouts, ae.temperature, ae.scorer) == (len(TASKS), 2, 1.0, "dawdler")
    assert ae.step_rewards[0][-1] == expert_trajs[0].steps[-1].reward


def test_trajectories_without_steps_are_left_out(expert_trajs):
    from dataclasses import replace

    empty = replace(expert_trajs[0], steps=(), stop_reason="context_overflow", final_reward=0.0)
    ae = action_efficiency(webshop, [empty, expert_trajs[1]], make_policy("expert"), n_rollouts=1)
    assert ae.per_trajectory[0] is None and ae.n == 1 and ae.value == pytest.approx(expert_trajs[1].final_reward)


def test_sampled_estimates_are_reproducible_from_the_seed():
    trajs = run_episodes(webshop, TASKS[:2], make_policy("random"), max_steps=3)
    first = step_rewards(webshop, trajs, make_policy("expert"), n_rollouts=2, seed=1, max_steps=10)[0]
    assert first == step_rewards(webshop, trajs, make_policy("expert"), n_rollouts=2, seed=1, max_steps=10)[0]
    assert all(0.0 <= r <= 1.0 for row in first for r in row)


def test_a_model_scorer_runs_through_the_batched_engine(tiny_hf, expert_trajs):
    kwargs = dict(n_rollouts=2, max_new_tokens=4, max_steps=6, seed=3)
    ae = action_efficiency(webshop, expert_trajs[:1], tiny_hf, **kwargs)
    again = action_efficiency(webshop, expert_trajs[:1], tiny_hf, **kwargs)
    assert ae == again and ae.rollouts == 2 * (len(expert_trajs[0].steps) - 1)
    assert ae.scorer == tiny_hf.name and ae.settings["max_new_tokens"] == 4
