"""`harness data download` of a whole revision, or of one config, from the local registry.

A user publishes v1 (two configs, three splits) and then v2 (more rows in one split, a new
split), and downloads v1 without naming a config or a split: every split of v1, exactly as
published, from v1's commit, and nothing of v2.
"""

from __future__ import annotations

import subprocess

import pytest

from harness.cli import main
from harness.data.folder import load_split, read_manifest, verify_folder

REPO = "acme/webshop"
V1_SPLITS = ["expert_trajectories/test", "expert_trajectories/valid", "tasks/valid"]


def _rows(folder, key):
    config, split = key.split("/")
    return load_split(folder, config, split).to_list()


@pytest.fixture
def released(tmp_path, small_catalog, monkeypatch, capsys):
    """v1: expert_trajectories/valid and /test, tasks/valid; v2 adds rows to expert_trajectories/valid, and tasks/test."""
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.chdir(tmp_path)
    data = ["--data", str(small_catalog), "--output", "ds"]
    for config, split, limit in [("expert_trajectories", "valid", 2), ("expert_trajectories", "test", 2), ("tasks", "valid", 3)]:
        assert main(["data", "build", "webshop", "--config", config, "--split", split, "--limit", str(limit), *data]) == 0
    v1_rows = {key: _rows(tmp_path / "ds", key) for key in V1_SPLITS}
    assert main(["data", "publish", "ds", "--repo", REPO, "--tag", "v1"]) == 0
    assert main(["data", "build", "webshop", "--split", "valid", "--limit", "4", "--append", *data]) == 0
    assert main(["data", "build", "webshop", "--config", "tasks", "--split", "test", "--limit", "2", *data]) == 0
    assert main(["data", "publish", "ds", "--repo", REPO, "--tag", "v2"]) == 0
    tags = subprocess.run(
        ["git", "rev-parse", "v1^{commit}", "v2^{commit}"],
        cwd=tmp_path / "registry" / "datasets" / REPO,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    capsys.readouterr()
    return {"v1_rows": v1_rows, "v1": tags[0], "v2": tags[1], "v2_folder": tmp_path / "ds"}


def test_a_whole_revision_is_every_split_of_every_config_as_published(released, tmp_path, capsys):
    assert main(["data", "download", REPO, "--revision", "v1", "--output", "got"]) == 0
    out = capsys.readouterr().out
    got = tmp_path / "got"
    manifest = verify_folder(got)  # a normal dataset folder: every split verifies
    assert sorted(manifest["splits"]) == V1_SPLITS  # v2's tasks/test is not mixed in
    for key in V1_SPLITS:
        assert _rows(got, key) == released["v1_rows"][key]
        assert manifest["splits"][key]["source"]["commit"] == released["v1"]
    assert len(_rows(got, "expert_trajectories/valid")) == 2  # v1's rows, not v2's four
    assert f"downloaded {REPO}@v1 (commit {released['v1']})" in out
    assert "3 splits of 2 configs (expert_trajectories, tasks)" in out
    assert "  tasks/valid verified: 3 rows, content hash " in out
    assert "  expert_trajectories/test verified: 2 rows, content hash " in out


def test_the_latest_revision_has_the_later_rows_and_splits(released, tmp_path):
    assert main(["data", "download", REPO, "--output", "latest"]) == 0  # --revision defaults to main
    manifest = read_manifest(tmp_path / "latest")
    assert sorted(manifest["splits"]) == sorted([*V1_SPLITS, "tasks/test"])
    assert {e["source"]["commit"] for e in manifest["splits"].values()} == {released["v2"]}
    for key in manifest["splits"]:
        assert _rows(tmp_path / "latest", key) == _rows(released["v2_folder"], key)


def test_a_config_alone_is_every_split_of_that_config(released, tmp_path, capsys):
    assert main(["data", "download", REPO, "--revision", "v1", "--config", "expert_trajectories", "--output", "got"]) == 0
    manifest = read_manifest(tmp_path / "got")
    assert sorted(manifest["splits"]) == ["expert_trajectories/test", "expert_trajectories/valid"]
    for key in manifest["splits"]:
        assert _rows(tmp_path / "got", key) == released["v1_rows"][key]
    assert "2 splits of 1 config (expert_trajectories)" in capsys.readouterr().out


def test_downloads_into_one_folder_add_up(released, tmp_path):
    main(["data", "download", REPO, "--revision", "v1", "--config", "tasks", "--split", "valid", "--output", "got"])
    main(["data", "download", REPO, "--revision", "v1", "--config", "expert_trajectories", "--output", "got"])
    assert sorted(verify_folder(tmp_path / "got")["splits"]) == [
        "expert_trajectories/test",
        "expert_trajectories/valid",
        "tasks/valid",
    ]


@pytest.mark.parametrize(
    "argv, message",
    [
        (["acme/nope"], "unknown dataset repo 'acme/nope' in the local registry"),
        (["--revision", "v7"], "unknown revision 'v7' in dataset repo acme/webshop. Known: main, v1, v2"),
        (
            ["--config", "pairs"],
            "unknown config 'pairs' in dataset repo acme/webshop at revision main. Known: expert_trajectories, tasks",
        ),
        (["--revision", "v1", "--config", "tasks", "--split", "test"], "unknown split 'test' in config 'tasks' of dataset repo"),
        (["--split", "valid"], "--split valid needs --config"),
    ],
)
def test_unknown_names_are_errors_that_list_the_known_ones(released, tmp_path, capsys, argv, message):
    repo = [] if argv[0].startswith("acme/") else [REPO]
    assert main(["data", "download", *repo, *argv, "--output", "got"]) == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "got").exists()


def test_a_damaged_split_stops_the_whole_download_before_anything_is_written(released, tmp_path):
    assert main(["data", "download", REPO, "--revision", "v1", "--config", "tasks", "--output", "kept"]) == 0
    before = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "kept").rglob("*") if p.is_file()}
    # Someone commits a damaged file straight into the registry repo (bypassing publish).
    repo = tmp_path / "registry" / "datasets" / REPO
    parquet = repo / "expert_trajectories" / "test-00000-of-00001.parquet"
    data = bytearray(parquet.read_bytes())
    data[len(data) // 3] ^= 0xFF
    parquet.write_bytes(bytes(data))
    git_env = {"GIT_COMMITTER_NAME": "x", "GIT_COMMITTER_EMAIL": "x@y", "PATH": "/usr/bin:/bin"}
    subprocess.run(["git", "commit", "-qam", "oops", "--author", "x <x@y>"], cwd=repo, check=True, env=git_env)
    assert main(["data", "download", REPO, "--output", "bad"]) == 2
    assert not (tmp_path / "bad").exists()
    assert main(["data", "download", REPO, "--output", "kept"]) == 2
    after = {p.relative_to(tmp_path): p.read_bytes() for p in (tmp_path / "kept").rglob("*") if p.is_file()}
    assert after == before  # not even the splits that verified were written
