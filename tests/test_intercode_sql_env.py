"""InterCodeSQL on the embedded SQLite engine, as an agent uses it: queries, submit, bad input, splits."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from miniature import require_intercode_sql

from harness.envs import Environment, make_env
from harness.envs.shared_data import DataNotFoundError


@pytest.fixture(scope="module")
def world():
    return require_intercode_sql()


@pytest.fixture
def env(world):
    from harness.envs.intercode_sql import IntercodeSqlEnv

    return IntercodeSqlEnv(world)


def sql(query: str) -> str:
    return f"```sql\n{query}\n```"


def test_env_satisfies_the_contract(env):
    assert isinstance(env, Environment)
    assert env.max_steps == 10 and env.success_threshold == 1.0
    # Everything that can change a reward is named: engine and its version, collation, shim, sqlglot, data.
    assert env.version.startswith("intercode_sql-v1/sqlite-")
    for part in ("mysqlci-v1", "shim-v1", "sqlglot-", "iou-tau-v1", "tasks-", "dump-"):
        assert part in env.version


def test_splits_keep_ipr_test_ids_and_split_the_rest_deterministically(env):
    test, clean, valid, train = (env.task_ids(s) for s in ("test", "test_clean", "valid", "train"))
    assert test == [str(i) for i in range(200)]
    assert len(valid) == 100 and not set(valid) & set(train) and not set(valid + train) & set(test)
    flagged = {t for t in env.task_ids("all") if env.task_flags(t)}
    assert {t for t in test if t not in clean} == flagged & set(test)
    assert not flagged & set(valid + train)
    assert len(flagged) == 62 + 6  # wta_1's empty tables, and the six gold queries MySQL rejects
    assert env.task_flags("164") == ("gold_error",)
    with pytest.raises(ValueError, match="unknown InterCodeSQL split 'dev'"):
        env.task_ids("dev")


def test_first_observation_is_the_question(env):
    obs = env.reset("0")
    assert obs == env.task("0").instruction
    assert env.task("0").split == "test"
    assert env.available_actions().has_search_bar is False
    assert "submit" in env.available_actions().clickables


def test_query_rows_errors_and_schema_statements(env):
    env.reset("0")  # database poker_player
    r = env.step(sql("SHOW TABLES"))
    assert r.observation == "[('people',), ('poker_player',)]"
    assert (r.reward, r.done) == (0.0, False)
    r = env.step(sql("DESCRIBE people"))
    assert r.observation.startswith("[('People_ID', 'int', 'NO', 'PRI', None, 'auto_increment'), ('Nationality', 'text'")
    r = env.step(sql("SELECT count(*) FROM people"))
    assert r.observation == "[(7,)]"
    r = env.step(sql("SELECT nme FROM people"))
    assert r.observation == "Error executing query: Unknown column 'nme' in 'field list'"
    r = env.step(sql("SELECT * FROM peeple"))
    assert r.observation == "Error executing query: Table 'poker_player.peeple' doesn't exist"
    r = env.step(sql("DROP TABLE people"))
    assert "read-only" in r.observation
    r = env.step(sql("SELECT * FROM people LIMIT 0"))
    assert r.observation == "[]"
    r = env.step(sql("USE car_1"))
    assert r.observation == "[Executed Successfully with No Output]" and env.database == "car_1"


def test_mysql_semantics_on_sqlite(env):
    env.reset("0")
    # MySQL's collation: case-, accent- and trailing-space-insensitive comparison; "..." is a string.
    assert env.step(sql('SELECT count(*) FROM people WHERE Nationality = "russia  "')).observation == "[(6,)]"
    assert env.step(sql("SELECT 7 / 2, 7 DIV 2, YEAR('2011-05-03'), NOW()")).observation == "[(3.5, 3, 2011, '2023-06-01 00:00:00')]"
    assert env.step(sql("SELECT Name FROM people WHERE Name REGEXP '^ALEK'")).observation == "[('Aleksey Ostapenko',)]"
    assert env.step(sql("SELECT Name FROM people LIMIT 1, 2")).observation == "[('Teodor Salparov',), ('Roman Bragin',)]"


def test_long_results_are_truncated_like_the_original(env):
    env.reset("0")
    r = env.step(sql("SELECT * FROM people"))
    assert len(r.observation) == 353 and r.observation.endswith("...")


def test_submit_scores_the_last_query_against_the_gold_rows(env):
    env.reset("0")  # gold: names of poker players ordered by final tables made
    gold = env.world.data.tasks[0].gold
    env.step(sql(gold))
    r = env.step("submit")
    assert (r.reward, r.done) == (1.0, True) and r.info["submitted"]
    env.reset("0")
    env.step(sql(gold + " DESC"))  # same rows, reversed order
    assert env.step("submit").reward < 0
    env.reset("0")
    assert env.step("submit").reward == 0.0  # nothing was queried


@pytest.mark.parametrize(
    "action, message",
    [
        ("", "the action is empty"),
        ("   ", "the action is empty"),
        ("SELECT * FROM people", "is neither a ```sql block nor submit"),
        ("```sql\n\n```", "block is empty"),
        ("x" * 5000, "is neither a ```sql block nor submit"),
    ],
)
def test_bad_actions_are_observations_and_use_a_step(env, action, message):
    env.reset("1")
    r = env.step(action)
    assert r.observation.startswith("Invalid action: ") and message in r.observation
    assert "Action: submit" in r.observation  # the format is explained
    assert (r.reward, r.done, env.steps_taken) == (0.0, False, 1)
    assert "invalid_action" in r.info


def test_only_the_first_line_of_the_block_runs(env):
    env.reset("0")
    r = env.step("```sql\nSELECT 1\nSELECT 2\n```")
    assert r.observation == "[(1,)]"


def test_step_budget_ends_the_episode_with_zero_reward(env):
    env.reset("2")
    results = [env.step(sql("SELECT 1")) for _ in range(10)]
    assert [r.done for r in results] == [False] * 9 + [True]
    assert results[-1].info["truncated"] is True and results[-1].reward == 0.0
    assert "episode is over" in env.step("submit").observation


def test_step_before_reset_and_unknown_task_ids(world):
    from harness.envs.intercode_sql import IntercodeSqlEnv

    env = IntercodeSqlEnv(world)
    assert "call reset" in env.step("submit").observation
    with pytest.raises(ValueError, match=r"task ids are 0\.\.1033"):
        env.reset("5000")
    with pytest.raises(ValueError, match="unknown InterCodeSQL task id 'abc'"):
        env.reset("abc")


def test_replaying_actions_reproduces_observations_and_rewards(world):
    from harness.envs.intercode_sql import IntercodeSqlEnv, SqlWorld
    from harness.envs.intercode_sql.engines import make_engine

    actions = [sql("SHOW TABLES"), sql("SELECT * FROM city ORDER BY rand() LIMIT 2"), sql("SELECT count(*) FROM city"),
               "oops", sql(world.data.tasks[115].gold), "submit"]

    def play(env):
        out = [env.reset("115")]
        for a in actions:
            r = env.step(a)
            out.append((r.observation, r.reward, r.done))
        return out

    first = play(make_env("intercode_sql"))
    fresh = IntercodeSqlEnv(SqlWorld(world.data, make_engine("sqlite", world.data.dump)))
    assert play(fresh) == first and first[-1][2] is True


def test_expert_solves_tasks_and_random_does_not(world):
    from harness.envs.intercode_sql import IntercodeSqlEnv
    from harness.policies.scripted import ExpertPolicy
    from harness.rollout import run_episodes

    ids = IntercodeSqlEnv(world).task_ids("test")[::5]
    trajectories = run_episodes(lambda: IntercodeSqlEnv(world), ids, ExpertPolicy())
    assert all(t.final_reward == 1.0 for t in trajectories)
    first = trajectories[0]
    assert first.steps[0].action == "```sql\nSHOW TABLES\n```" and first.steps[-1].action == "submit"
    assert all(s.text.startswith("Thought: ") for s in first.steps)


def test_missing_data_names_the_folder_and_the_fix(tmp_path):
    from harness.envs.intercode_sql.tasks import load_sql_data

    with pytest.raises(DataNotFoundError, match=r"intercode_sql data not found: .*ic_spider_dev\.json.*--data DIR"):
        load_sql_data(str(tmp_path))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.one_of(st.text(max_size=60), st.builds(sql, st.text(max_size=60)),
                          st.sampled_from(["submit", sql("SELECT"), sql("SHOW TABLES"), sql("SELECT * FROM people;"),
                                           sql("SELECT 1; DROP TABLE people"), sql("PRAGMA x"), "```sql"])), max_size=12))
def test_any_action_text_is_answered_without_raising(env, pieces):
    env.reset("0")
    for text in pieces:
        if not env.done:
            r = env.step(text)
            assert isinstance(r.observation, str) and r.observation
            assert -1.0 <= r.reward <= 1.0
    assert env.steps_taken <= env.max_steps
