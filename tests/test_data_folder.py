"""Building a dataset folder from the expert, and reads that verify what the manifest records."""

from __future__ import annotations

import json

import pytest

from harness.data.build import BuildConfig, build
from harness.data.errors import CorruptFileError, HashMismatchError
from harness.data.folder import load_split, read_manifest, split_file
from harness.data.rows import trajectory_from_row

PARQUET = split_file("expert_trajectories", "valid")


@pytest.fixture
def folder(tmp_path, small_catalog):
    out = tmp_path / "webshop"
    build(
        BuildConfig(split="valid", limit=4, env_kwargs={"data": str(small_catalog), "seed": 0}),
        out,
        command="harness data build webshop ...",
    )
    return out


def test_build_runs_the_expert_on_the_split_and_records_provenance(folder):
    ds = load_split(folder, "expert_trajectories", "valid")
    assert ds.num_rows == 4 and [r["task_id"] for r in ds] == ["500", "501", "502", "503"]
    assert all(r["policy"] == "expert" and r["success"] for r in ds)
    entry = read_manifest(folder)["splits"]["expert_trajectories/valid"]
    prov = entry["provenance"][0]
    assert prov["env_version"].startswith("webshop-v") and prov["seeds"] == {"env": 0, "episode": 0}
    assert prov["command"] == "harness data build webshop ..." and len(prov["config_hash"]) == 16
    assert entry["stats"]["success_rate"] == 1.0 and len(entry["content_hash"]) == 64


def test_rows_are_the_trajectories_the_rollout_produced(folder, small_catalog):
    from harness.envs import make_env
    from harness.policies import make_policy
    from harness.rollout import run_episodes

    expected = run_episodes(lambda: make_env("webshop", data=str(small_catalog), seed=0), ["500", "501"], make_policy("expert"))
    rows = load_split(folder, "expert_trajectories", "valid").to_list()[:2]
    assert [trajectory_from_row(r) for r in rows] == expected


def test_append_adds_only_new_rows_and_keeps_the_history(folder, small_catalog):
    entry = build(BuildConfig(split="valid", limit=6, env_kwargs={"data": str(small_catalog), "seed": 0}), folder, append=True)
    assert entry["num_rows"] == 6
    assert [p["rows_added"] for p in entry["provenance"]] == [4, 2] and entry["provenance"][1]["rows_already_present"] == 4


def test_a_truncated_parquet_file_is_named_as_corrupted(folder):
    path = folder / PARQUET
    path.write_bytes(path.read_bytes()[: len(path.read_bytes()) // 2])
    with pytest.raises(CorruptFileError, match=r"expert_trajectories/valid-00000-of-00001.parquet .*not a readable parquet"):
        load_split(folder, "expert_trajectories", "valid")


def test_an_edited_row_no_longer_matches_its_id(folder):
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(folder / PARQUET)
    rows = table.to_pylist()
    rows[2]["steps"][0]["text"] = "Thought: something else.\nAction: search[x]"
    pq.write_table(pa.Table.from_pylist(rows, schema=table.schema), folder / PARQUET)
    with pytest.raises(HashMismatchError, match=r"row 2 \(task 502\).*content hashes to"):
        load_split(folder, "expert_trajectories", "valid")


def test_a_manifest_hash_that_does_not_match_the_rows_is_reported(folder):
    manifest = json.loads((folder / "manifest.json").read_text())
    manifest["splits"]["expert_trajectories/valid"]["content_hash"] = "0" * 64
    (folder / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(HashMismatchError, match="manifest records 0000000000000000"):
        load_split(folder, "expert_trajectories", "valid")


def test_dropping_a_row_is_caught_even_with_valid_ids(folder):
    import pyarrow.parquet as pq

    table = pq.read_table(folder / PARQUET)
    pq.write_table(table.slice(0, 3), folder / PARQUET)
    with pytest.raises(HashMismatchError, match="has 3 rows but its manifest records 4"):
        load_split(folder, "expert_trajectories", "valid")


def test_build_tasks_lists_every_task_of_the_split(folder, small_catalog):
    entry = build(BuildConfig(split="valid", config="tasks", env_kwargs={"data": str(small_catalog)}), folder)
    tasks = load_split(folder, "tasks", "valid")
    assert entry["num_rows"] == tasks.num_rows == 100
    assert {t["split"] for t in tasks} == {"valid"} and all(t["instruction"] for t in tasks)
    assert set(read_manifest(folder)["splits"]) == {"expert_trajectories/valid", "tasks/valid"}
