"""Schemas of the artifact types, rows of the core records, and errors for rows that do not fit."""

from __future__ import annotations

import dataclasses

import pytest

from harness.data.errors import SchemaError, UnknownNameError
from harness.data.folder import load_split, write_split
from harness.data.rows import (
    compute_row_id,
    pair_from_row,
    pair_to_row,
    step_reward_from_row,
    step_reward_to_row,
    trajectory_from_row,
    trajectory_to_row,
    with_id,
)
from harness.data.schema import CONFIGS, features_for
from harness.types import Pair, Step, StepReward, Trajectory

TRAJ = Trajectory(
    env_id="webshop",
    env_version="webshop-v1/test",
    task_id="7",
    instruction="buy a red mug",
    initial_observation="WebShop [SEP] Search",
    steps=(
        Step("Thought: search.\nAction: search[red mug]", "search[red mug]", "results", 0.0, False, {}),
        Step(
            "Thought: buy.\nAction: click[buy now]",
            "click[buy now]",
            "Thank you",
            0.75,
            True,
            {"reward_breakdown": {"r_type": 1.0}},
        ),
    ),
    final_reward=0.75,
    stop_reason="done",
    policy="expert",
    seed=3,
    prefix_steps=1,
)
PAIR = Pair(
    prompt=({"role": "user", "content": "task"}, {"role": "assistant", "content": "OK"}),
    chosen=({"role": "assistant", "content": "Action: click[a]"},),
    rejected=({"role": "assistant", "content": "Action: click[b]"},),
    level="step",
    step_index=2,
    chosen_reward=0.9,
    rejected_reward=0.1,
    builder="ipr",
    builder_version="1",
    env_id="webshop",
    task_id="7",
    chosen_trajectory_id="a" * 16,
    rejected_trajectory_id="b" * 16,
)
REWARD = StepReward("a" * 16, 1, "sft-abc", 5, 0.7, 0, 0.4, (0.0, 1.0, 0.0, 1.0, 0.0))


def test_every_config_has_an_id_column_and_a_schema():
    for config in CONFIGS:
        assert "id" in features_for(config)


@pytest.mark.parametrize("record, config", [(Trajectory, "expert_trajectories"), (StepReward, "step_rewards"), (Pair, "pairs")])
def test_schemas_cover_every_field_of_the_core_records(record, config):
    missing = [f.name for f in dataclasses.fields(record) if f.name not in features_for(config)]
    assert missing == [], f"{config} schema lacks {missing}: add them to harness/data/schema.py"


def test_trajectory_row_round_trips_and_carries_the_trajectory_id():
    row = trajectory_to_row(TRAJ)
    assert row["id"] == TRAJ.id == compute_row_id("expert_trajectories", row)
    assert trajectory_from_row(row) == TRAJ


def test_step_reward_and_pair_rows_round_trip_through_parquet(tmp_path):
    write_split(tmp_path, "step_rewards", "train", [step_reward_to_row(REWARD)], {"stage": "test"})
    write_split(tmp_path, "pairs", "train", [pair_to_row(PAIR)], {"stage": "test"})
    assert step_reward_from_row(load_split(tmp_path, "step_rewards", "train")[0]) == REWARD
    assert pair_from_row(load_split(tmp_path, "pairs", "train")[0]) == PAIR


def test_pairs_are_trl_conversational_preference_rows(tmp_path):
    write_split(tmp_path, "pairs", "train", [pair_to_row(PAIR)], {"stage": "test"})
    row = load_split(tmp_path, "pairs", "train")[0]
    assert row["prompt"][0] == {"role": "user", "content": "task"}
    assert row["chosen"] == [{"role": "assistant", "content": "Action: click[a]"}]
    assert (row["level"], row["step_index"], row["builder"]) == ("step", 2, "ipr")


def test_explored_rows_name_the_expert_they_replayed(tmp_path):
    row = trajectory_to_row(TRAJ, expert_id="e" * 16)
    write_split(tmp_path, "explored_trajectories", "train", [row], {"stage": "test"})
    got = load_split(tmp_path, "explored_trajectories", "train")[0]
    assert (got["expert_id"], got["prefix_steps"]) == ("e" * 16, 1)


def test_a_row_missing_a_column_is_refused_naming_the_column(tmp_path):
    row = {k: v for k, v in trajectory_to_row(TRAJ).items() if k != "stop_reason"}
    with pytest.raises(SchemaError, match="stop_reason"):
        write_split(tmp_path, "expert_trajectories", "train", [row], {})


def test_a_row_with_a_wrong_type_is_refused_as_a_schema_error(tmp_path):
    row = with_id("tasks", {"env_id": "webshop", "task_id": "1", "instruction": "x", "split": ["not", "a", "string"]})
    with pytest.raises(SchemaError, match="tasks"):
        write_split(tmp_path, "tasks", "train", [row], {})


def test_a_parquet_file_with_the_wrong_schema_is_named_on_load(tmp_path):
    import pyarrow as pa
    import pyarrow.parquet as pq

    write_split(
        tmp_path, "tasks", "train", [with_id("tasks", {"env_id": "w", "task_id": "1", "instruction": "x", "split": "train"})], {}
    )
    path = tmp_path / "tasks" / "train-00000-of-00001.parquet"
    pq.write_table(pa.table({"id": ["x"], "task_id": [1]}), path)  # someone overwrote it with other columns
    with pytest.raises(SchemaError, match=r"tasks/train-00000-of-00001.parquet .*missing column 'env_id'.*'task_id' is int64"):
        load_split(tmp_path, "tasks", "train")


def test_unknown_config_is_named_with_the_known_ones(tmp_path):
    with pytest.raises(UnknownNameError, match=r"unknown dataset config 'pair'.*Did you mean: pairs"):
        write_split(tmp_path, "pair", "train", [], {})
