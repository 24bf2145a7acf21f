"""InterCodeSQL on a real MySQL-compatible server (MariaDB, started by the harness) for fidelity.

Skips when MariaDB is not installed (Debian/Ubuntu: ``apt-get install -y mariadb-server``) or the
data is absent; CI has both.
"""

from __future__ import annotations

import pytest

from harness.envs.shared_data import DataNotFoundError


@pytest.fixture(scope="module")
def world():
    from harness.envs.intercode_sql import load_world
    from harness.envs.intercode_sql.mariadb_server import MariaDBUnavailable, find_binaries

    try:
        find_binaries()
        import pymysql  # noqa: F401
    except (MariaDBUnavailable, ImportError) as e:
        pytest.skip(f"MariaDB is not available here: {e}")
    try:
        return load_world(None, "mariadb")
    except DataNotFoundError as e:
        pytest.skip(f"InterCodeSQL data is absent (CI has it): {e}")


@pytest.fixture
def env(world):
    from harness.envs.intercode_sql import IntercodeSqlEnv

    return IntercodeSqlEnv(world)


def sql(query: str) -> str:
    return f"```sql\n{query}\n```"


def test_version_names_the_server_and_its_settings(env):
    assert env.version.startswith("intercode_sql-v1/mariadb-10.")
    for part in ("lctn1", "utf8mb4_general_ci", "bigtables", "iou-tau-v1"):
        assert part in env.version


def test_queries_run_on_the_server_read_only(env):
    env.reset("0")
    assert env.step(sql("SHOW TABLES")).observation == "[('people',), ('poker_player',)]"
    assert env.step(sql("SELECT count(*) FROM People")).observation == "[(7,)]"  # lower_case_table_names=1
    assert "DROP command denied" in env.step(sql("DROP TABLE people")).observation
    assert env.step(sql("SELECT NOW()")).observation == "[(datetime.datetime(2023, 6, 1, 0, 0),)]"
    assert env.step(sql("SELEC 1")).observation.startswith("Error executing query: You have an error in your SQL syntax")


def test_exactly_the_flagged_gold_queries_fail_on_mysql(env):
    from harness.envs.intercode_sql.engine import one_line

    failing = {str(t.index) for t in env.world.data.tasks if env.world.engine.execute(t.db, one_line(t.gold)).error}
    assert failing == {t for t in env.task_ids("all") if "gold_error" in env.task_flags(t)}


def test_tied_rows_come_back_the_same_whatever_ran_before(env):
    from harness.envs.intercode_sql.engine import one_line

    engine = env.world.engine
    tasks = [t for t in env.world.data.tasks if "LIMIT" in t.gold.upper()]  # where ties can decide the rows
    first = [engine.execute(t.db, one_line(t.gold)).rows for t in tasks]
    again = [engine.execute(t.db, one_line(t.gold)).rows for t in reversed(tasks)][::-1]
    assert first == again


def test_expert_scores_one_except_where_the_gold_query_is_invalid(world):
    from harness.envs.intercode_sql import IntercodeSqlEnv
    from harness.policies.scripted import ExpertPolicy
    from harness.rollout import run_episodes

    ids = [str(i) for i in range(0, 200, 4)] + ["164", "178"]
    trajectories = run_episodes(lambda: IntercodeSqlEnv(world), ids, ExpertPolicy())
    rewards = {t.task_id: t.final_reward for t in trajectories}
    assert rewards.pop("164") == 0.0 and rewards.pop("178") == 0.0
    assert set(rewards.values()) == {1.0}
    assert "gold_error" in trajectories[-1].steps[-1].info
