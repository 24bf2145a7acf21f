"""ALFWorld through TextWorld, as an agent plays it: observations, commands, bad input, splits, expert.

Skips when alfworld 0.3.4 / textworld 1.7.0 are not installed or the game files are absent (CI has
both). Loading a game takes 1-2 s, so the tests share one environment and a handful of games.
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from harness.envs import Environment
from harness.envs.shared_data import DataNotFoundError

SEEN = "valid_seen/look_at_obj_in_light-AlarmClock-None-DeskLamp-323/trial_T20190909_044715_250790"
UNSEEN = "valid_unseen/pick_clean_then_place_in_recep-Cloth-None-CounterTop-424/trial_T20190908_100632_546757"


@pytest.fixture(scope="module")
def world():
    from harness.envs.alfworld import load_world

    try:
        import textworld.envs.pddl  # noqa: F401
        from alfworld.agents.utils.misc import Demangler  # noqa: F401

        return load_world(None)
    except ImportError as e:
        pytest.skip(f"alfworld 0.3.4 / textworld 1.7.0 are not installed: {e}")
    except DataNotFoundError as e:
        pytest.skip(f"ALFWorld game files are absent (CI has them): {e}")


@pytest.fixture(scope="module")
def env(world):
    from harness.envs.alfworld import AlfworldEnv

    return AlfworldEnv(world)


def test_env_satisfies_the_contract(env):
    assert isinstance(env, Environment)
    assert env.max_steps == 20 and env.success_threshold == 1.0
    assert env.version.startswith("alfworld-v1/alfworld-0.3.4/textworld-1.7.0/fast-downward-")


def test_splits_are_ipr_seen_and_unseen_games_in_a_stable_order(env):
    from harness.envs.shared_data import default_data_root

    seen, unseen = env.task_ids("seen"), env.task_ids("unseen")
    assert len(seen) == 140 and len(unseen) == 134
    assert seen == sorted(seen) and env.task_ids("dev") == seen and env.task_ids("test") == unseen
    ipr_unseen = (default_data_root() / "alfworld" / "gamefile_id.txt").read_text().split()
    assert {t.split("/", 1)[1] for t in unseen} == set(ipr_unseen)
    assert len(env.task_ids("train")) == 445
    with pytest.raises(ValueError, match="unknown ALFWorld split 'valid'"):
        env.task_ids("valid")


def test_first_observation_and_commands(env):
    obs = env.reset(SEEN)
    assert obs.startswith("You are in the middle of a room. Looking quickly around you, you see a bed 2")
    assert obs.endswith("\nYour task is to: look at alarmclock under the desklamp.")
    assert "Welcome to TextWorld" not in obs
    assert env.task(SEEN).instruction == "look at alarmclock under the desklamp."
    assert env.task(SEEN).split == "seen"
    actions = env.available_actions()
    assert actions.has_search_bar is False and {"look", "inventory", "go to desk 1"} <= set(actions.clickables)


def test_a_move_is_described_without_the_location_number(env):
    env.reset(SEEN)
    r = env.step("go to desk 1")
    assert r.observation.startswith("On the desk 1, you see a alarmclock 2, a book 1")
    assert (r.reward, r.done, r.info["won"]) == (0.0, False, False)
    assert "take alarmclock 2 from desk 1" in env.available_actions().clickables


@pytest.mark.parametrize("action", ["", "   ", "fly to the moon", "Go To Desk 1", "go to desk 1\nThought: more", "x" * 5000, None])
def test_bad_commands_answer_nothing_happens_and_use_a_step(env, action):
    env.reset(SEEN)
    r = env.step(action)
    assert r.observation == "Nothing happens."
    assert (r.reward, r.done, env.steps_taken) == (0.0, False, 1)
    assert r.info["invalid_action"]


def test_step_budget_ends_the_episode_with_zero_reward(env):
    env.reset(SEEN)
    results = [env.step("look") for _ in range(20)]
    assert [r.done for r in results] == [False] * 19 + [True]
    assert results[-1].info["truncated"] is True and results[-1].reward == 0.0
    assert "episode is over" in env.step("look").observation


def test_winning_ends_the_episode_with_reward_one(env):
    env.reset(SEEN)
    for command in ["go to desk 1", "take alarmclock 2 from desk 1"]:
        assert env.step(command).reward == 0.0
    r = env.step("use desklamp 1")
    assert (r.observation, r.reward, r.done, r.info["won"]) == ("You turn on the desklamp 1.", 1.0, True, True)


def test_replaying_actions_reproduces_observations_and_rewards(world, env):
    from harness.envs.alfworld import AlfworldEnv

    def play(e):
        out = [e.reset(UNSEEN)]
        for i in range(6):  # a fixed walk through the admissible commands, and one invalid command
            options = e.available_actions().clickables
            r = e.step("nonsense" if i == 2 else options[(7 * i + 3) % len(options)])
            out.append((r.observation, r.reward, r.done, tuple(e.available_actions().clickables)))
        return out

    fresh = AlfworldEnv(world)  # its own newly loaded game
    assert play(env) == play(fresh)
    fresh.close()


def test_expert_wins_seen_unseen_and_recorded_training_games(world):
    from harness.envs.alfworld import AlfworldEnv
    from harness.envs.alfworld.games import find_game
    from harness.policies.scripted import ExpertPolicy
    from harness.rollout import run_episodes

    train = AlfworldEnv(world).task_ids("train")[0]
    trajectories = run_episodes(lambda: AlfworldEnv(world), [SEEN, UNSEEN, train], ExpertPolicy())
    assert [t.final_reward for t in trajectories] == [1.0, 1.0, 1.0]
    assert all(s.text.startswith("Thought: ") and "\nAction: " in s.text for t in trajectories for s in t.steps)
    # A training game with a recorded expert sequence replays it.
    assert trajectories[2].actions == find_game(None, train).expert_actions()


def test_missing_data_names_the_folder_and_the_fix(tmp_path):
    from harness.envs.alfworld.games import list_games

    with pytest.raises(DataNotFoundError, match=r"alfworld data not found: .*json_2\.1\.1.*harness data fetch alfworld"):
        list_games(str(tmp_path), "seen")


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=40), st.sampled_from(["look", "go to desk 1", "take alarmclock 2 from desk 1",
                                                               "use desklamp 1", "open drawer 1", "inventory"])), max_size=5))
def test_any_command_text_is_answered_without_raising(env, pieces):
    env.reset(SEEN)
    for text in pieces:
        if not env.done:
            r = env.step(text)
            assert isinstance(r.observation, str) and r.observation
            assert r.reward in (0.0, 1.0)
