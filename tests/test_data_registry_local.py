"""The local registry: git-backed dataset repos with tags as releases; atomic publish; verified downloads."""

from __future__ import annotations

import subprocess

import pytest

from harness.data.build import BuildConfig, build
from harness.data.cards import validate_card
from harness.data.errors import CorruptFileError, HashMismatchError, PublishError, UnknownNameError
from harness.data.folder import load_split, read_manifest
from harness.data.local_registry import LocalRegistry

REPO = "acme/webshop"


@pytest.fixture
def registry(tmp_path):
    return LocalRegistry(tmp_path / "registry")


@pytest.fixture
def make_folder(tmp_path, small_catalog):
    def make(limit: int, append: bool = False, name: str = "ds"):
        out = tmp_path / name
        build(BuildConfig(split="valid", limit=limit, env_kwargs={"data": str(small_catalog)}), out, append=append)
        return out

    return make


@pytest.fixture
def two_releases(registry, make_folder):
    """v1 with 3 expert trajectories, v2 after adding rows (5)."""
    folder = make_folder(3)
    v1_rows = load_split(folder, "expert_trajectories", "valid").to_list()
    v1 = registry.publish(folder, REPO, tag="v1")
    make_folder(5, append=True)
    v2 = registry.publish(folder, REPO, tag="v2")
    return v1, v2, v1_rows


def _refs(path):
    return subprocess.run(["git", "show-ref"], cwd=path, capture_output=True, text=True).stdout


def test_download_v1_after_v2_returns_exactly_v1(registry, two_releases, tmp_path):
    v1, v2, v1_rows = two_releases
    assert v1.dataset_hash != v2.dataset_hash
    out = registry.download(REPO, "expert_trajectories", "valid", "v1", tmp_path / "got")
    entry = read_manifest(out)["splits"]["expert_trajectories/valid"]
    assert entry["content_hash"] == v1.splits["expert_trajectories/valid"]
    assert load_split(out, "expert_trajectories", "valid").to_list() == v1_rows
    assert entry["source"] == {
        "registry": "local",
        "location": str(registry.root),
        "repo": REPO,
        "revision": "v1",
        "commit": v1.commit,
    }
    latest = registry.download(REPO, "expert_trajectories", "valid", "main", tmp_path / "latest")
    assert load_split(latest, "expert_trajectories", "valid").num_rows == 5


def test_repos_are_laid_out_as_on_the_hub_with_tags_as_revisions(registry, two_releases):
    v1, v2, _ = two_releases
    path = registry.repo_path(REPO)
    assert {p.name for p in path.iterdir()} == {".git", "README.md", "manifest.json", "expert_trajectories"}
    assert (path / "expert_trajectories" / "valid-00000-of-00001.parquet").is_file()
    info = registry.info(REPO)
    assert info.tags == {"v1": v1.commit, "v2": v2.commit} and info.branches == {"main": v2.commit}
    assert registry.resolve(REPO, v1.commit[:10]) == v1.commit
    validate_card(registry.card(REPO, "v1"), "card v1", registry.manifest(REPO, "v1"))
    assert registry.list_repos() == [REPO]


def test_publishing_another_config_keeps_the_splits_already_there(registry, two_releases, tmp_path, small_catalog):
    tasks = tmp_path / "tasks"
    build(BuildConfig(split="valid", config="tasks", env_kwargs={"data": str(small_catalog)}), tasks)
    registry.publish(tasks, REPO, tag="v3")
    assert registry.info(REPO).splits == {"expert_trajectories/valid": 5, "tasks/valid": 100}


@pytest.mark.parametrize(
    "args, message",
    [
        (("acme/shop", "expert_trajectories", "valid", "v1"), r"unknown dataset repo 'acme/shop'.*Known: acme/webshop"),
        (
            (REPO, "pairs", "valid", "v1"),
            r"unknown config 'pairs' in dataset repo acme/webshop at revision v1. Known: expert_trajectories",
        ),
        ((REPO, "expert_trajectories", "train", "v1"), r"unknown split 'train'.*Known: valid"),
        (
            (REPO, "expert_trajectories", "valid", "v9"),
            r"unknown revision 'v9' in dataset repo acme/webshop. Known: main, v1, v2",
        ),
    ],
)
def test_unknown_names_are_errors_that_name_them(registry, two_releases, tmp_path, args, message):
    with pytest.raises(UnknownNameError, match=message):
        registry.download(*args, output=tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_a_tag_cannot_be_published_twice(registry, two_releases, make_folder):
    folder = make_folder(7, append=True)
    with pytest.raises(PublishError, match="tag 'v2' already exists"):
        registry.publish(folder, REPO, tag="v2")


def test_a_publish_rejected_mid_way_leaves_no_version_behind(registry, two_releases, make_folder):
    path = registry.repo_path(REPO)
    hook = path / ".git" / "hooks" / "pre-receive"
    hook.write_text("#!/bin/sh\necho 'disk quota exceeded' >&2\nexit 1\n")
    hook.chmod(0o755)
    before, files_before = _refs(path), (path / "manifest.json").read_text()
    folder = make_folder(8, append=True)
    with pytest.raises(PublishError, match="nothing was published.*disk quota exceeded"):
        registry.publish(folder, REPO, tag="v3")
    assert _refs(path) == before and "v3" not in registry.info(REPO).tags
    assert (path / "manifest.json").read_text() == files_before
    assert not (registry.root / ".staging").exists()


def test_a_damaged_folder_is_refused_before_a_repo_is_created(registry, make_folder):
    folder = make_folder(2)
    parquet = folder / "expert_trajectories" / "valid-00000-of-00001.parquet"
    parquet.write_bytes(b"PAR1 not really")
    with pytest.raises(CorruptFileError, match="valid-00000-of-00001.parquet"):
        registry.publish(folder, REPO, tag="v1")
    assert registry.list_repos() == [] and not registry.repo_path(REPO).exists()


def test_a_download_verifies_what_it_received(registry, two_releases, tmp_path):
    # Someone commits a damaged file straight into the registry repo (bypassing publish).
    path = registry.repo_path(REPO)
    parquet = path / "expert_trajectories" / "valid-00000-of-00001.parquet"
    data = bytearray(parquet.read_bytes())
    data[len(data) // 3] ^= 0xFF
    parquet.write_bytes(bytes(data))
    subprocess.run(
        ["git", "commit", "-qam", "oops", "--author", "x <x@y>"],
        cwd=path,
        check=True,
        env={"GIT_COMMITTER_NAME": "x", "GIT_COMMITTER_EMAIL": "x@y", "PATH": "/usr/bin:/bin"},
    )
    with pytest.raises((HashMismatchError, CorruptFileError), match="valid-00000-of-00001.parquet in dataset repo acme/webshop"):
        registry.download(REPO, "expert_trajectories", "valid", "main", tmp_path / "bad")
    assert not (tmp_path / "bad").exists()


def test_load_pins_a_revision_and_caches_it_by_commit(registry, two_releases, tmp_path):
    v1, _, v1_rows = two_releases
    ds = registry.load(REPO, "expert_trajectories", "valid", "v1", cache_dir=tmp_path / "cache")
    assert ds.to_list() == v1_rows
    assert (tmp_path / "cache" / REPO / v1.commit / "manifest.json").is_file()
    again = registry.load(REPO, "expert_trajectories", "valid", v1.commit, cache_dir=tmp_path / "cache")
    assert again.to_list() == v1_rows
