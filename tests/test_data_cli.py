"""The `harness data` commands as a user runs them, against a local registry in a temp folder."""

from __future__ import annotations

import json

import pytest

from harness.cli import main


@pytest.fixture
def env(tmp_path, small_catalog, monkeypatch):
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.chdir(tmp_path)
    return ["--data", str(small_catalog)]


def _hash(folder, key="expert_trajectories/valid"):
    return json.loads((folder / "manifest.json").read_text())["splits"][key]["content_hash"]


def test_build_publish_add_rows_publish_download_v1(env, tmp_path, capsys):
    assert main(["data", "build", "webshop", "--split", "valid", "--limit", "3", "--output", "ds", *env]) == 0
    v1_hash = _hash(tmp_path / "ds")
    assert main(["data", "publish", "ds", "--repo", "acme/webshop", "--tag", "v1"]) == 0
    assert main(["data", "build", "webshop", "--split", "valid", "--limit", "5", "--output", "ds", "--append", *env]) == 0
    assert main(["data", "publish", "ds", "--repo", "acme/webshop", "--tag", "v2"]) == 0
    out = capsys.readouterr().out
    assert "published acme/webshop@v1" in out and "published acme/webshop@v2" in out
    args = ["data", "download", "acme/webshop", "--config", "expert_trajectories", "--split", "valid"]
    assert main([*args, "--revision", "v1", "--output", "got-v1"]) == 0
    assert main([*args, "--revision", "v2", "--output", "got-v2"]) == 0
    assert _hash(tmp_path / "got-v1") == v1_hash != _hash(tmp_path / "got-v2") == _hash(tmp_path / "ds")
    assert f"verified: 3 rows, content hash {v1_hash}" in capsys.readouterr().out


def test_list_and_card(env, capsys):
    main(["data", "build", "webshop", "--split", "valid", "--limit", "2", "--output", "ds", *env])
    main(["data", "publish", "ds", "--repo", "acme/webshop", "--tag", "v1"])
    capsys.readouterr()
    assert main(["data", "list"]) == 0
    assert "acme/webshop" in (listing := capsys.readouterr().out) and "v1" in listing
    assert main(["data", "list", "acme/webshop"]) == 0
    assert "expert_trajectories/valid" in capsys.readouterr().out
    assert main(["data", "card", "acme/webshop", "--revision", "v1"]) == 0
    card = capsys.readouterr().out
    assert card.startswith("---\n") and "## How it was produced" in card and "--limit 2" in card
    assert main(["data", "card", "acme/webshop", "--output", "cards/acme.md"]) == 0
    assert main(["data", "card", "cards"]) == 0
    assert "cards/acme.md: valid" in capsys.readouterr().out


@pytest.mark.parametrize(
    "argv, message",
    [
        (
            ["data", "download", "acme/nope", "--config", "tasks", "--split", "valid", "--output", "x"],
            "unknown dataset repo 'acme/nope'",
        ),
        (
            [
                "data",
                "download",
                "acme/webshop",
                "--config",
                "expert_trajectories",
                "--split",
                "valid",
                "--revision",
                "v7",
                "--output",
                "x",
            ],
            "unknown revision 'v7'",
        ),
        (
            ["data", "download", "acme/webshop", "--config", "expert", "--split", "valid", "--output", "x"],
            "unknown config 'expert'",
        ),
        (["data", "publish", "ds", "--repo", "not-a-repo-id"], "invalid dataset repo name 'not-a-repo-id'"),
        (["data", "publish", "nowhere", "--repo", "acme/webshop"], "nowhere is not a dataset folder"),
        (["data", "card", "acme/webshop", "--revision", "v7"], "unknown revision 'v7'"),
    ],
)
def test_errors_name_what_was_wrong(env, capsys, argv, message):
    main(["data", "build", "webshop", "--split", "valid", "--limit", "1", "--output", "ds", *env])
    main(["data", "publish", "ds", "--repo", "acme/webshop", "--tag", "v1"])
    capsys.readouterr()
    assert main(argv) == 2
    assert message in capsys.readouterr().err


def test_the_hub_registry_refuses_to_go_online_in_offline_mode(env, capsys):
    import huggingface_hub.constants

    if not huggingface_hub.constants.HF_HUB_OFFLINE:
        pytest.skip("HF_HUB_OFFLINE is not set in this test run")
    argv = ["data", "download", "acme/webshop", "--config", "tasks", "--split", "valid", "--output", "x", "--registry", "hub"]
    assert main(argv) == 2
    assert "HF_HUB_OFFLINE" in capsys.readouterr().err


def test_build_works_for_an_environment_without_an_env_seed(tmp_path, monkeypatch, capsys):
    """Only WebShop draws with an environment seed; the others take no `seed` and must still build."""
    from miniature import require_intercode_sql

    require_intercode_sql()  # the CLI turns missing data into an exit status, so check it first
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    monkeypatch.chdir(tmp_path)
    assert main(["data", "build", "intercode_sql", "--split", "train", "--limit", "2", "--output", "ds"]) == 0
    assert "2 rows (2 new, success 1.0" in capsys.readouterr().out
    assert main(["data", "build", "intercode_sql", "--env-seed", "3", "--limit", "1", "--output", "ds2"]) == 2
    assert "seed" in capsys.readouterr().err
