"""One setting, HARNESS_CACHE, moves the registry and every cache; HARNESS_REGISTRY moves only the registry."""

from __future__ import annotations

import pytest

from harness import locations
from harness.cli import main

REPO = "acme/webshop"


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """HARNESS_CACHE set to a fresh folder, HARNESS_REGISTRY unset, as a user with one setting has it."""
    root = tmp_path / "my-cache"
    monkeypatch.setenv("HARNESS_CACHE", str(root))
    monkeypatch.delenv("HARNESS_REGISTRY", raising=False)
    monkeypatch.chdir(tmp_path)
    return root


def test_every_location_is_under_harness_cache(cache):
    from harness.envs.alfworld.fetch import default_destination

    assert locations.cache_root() == cache
    assert locations.registry_root() == cache / "registry"
    assert locations.datasets_cache() == cache / "datasets"
    assert locations.env_data_cache() == cache / "data"
    assert locations.wheels_cache() == cache / "wheels"
    assert default_destination() == cache / "data" / "alfworld"


def test_without_the_setting_everything_is_under_the_users_cache(monkeypatch, tmp_path):
    monkeypatch.delenv("HARNESS_CACHE", raising=False)
    monkeypatch.delenv("HARNESS_REGISTRY", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert locations.cache_root() == tmp_path / ".cache" / "harness"
    assert locations.registry_root() == tmp_path / ".cache" / "harness" / "registry"


def test_harness_cache_alone_moves_registry_datasets_and_caches_end_to_end(cache, small_catalog, tmp_path):
    from harness.data.registries import make_registry
    from harness.envs.intercode_sql.sqlite_engine import build_sqlite
    from harness.envs.webshop.catalog import load_catalog
    from harness.envs.webshop.search import ProductSearch

    build = ["data", "build", "webshop", "--split", "valid", "--limit", "2", "--data", str(small_catalog), "--output", "ds"]
    assert main(build) == 0
    assert main(["data", "publish", "ds", "--repo", REPO, "--tag", "v1"]) == 0
    assert (cache / "registry" / "datasets" / REPO / ".git").is_dir()
    registry = make_registry("local")  # what every command uses without --registry-path
    rows = registry.load(REPO, "expert_trajectories", "valid", "v1")
    assert rows.num_rows == 2
    assert (cache / "datasets" / REPO / registry.resolve(REPO, "v1") / "manifest.json").is_file()
    search = ProductSearch(load_catalog(small_catalog))  # the environment's search index (memoized per process)
    assert search.path.parent == cache / "webshop-index" and (search.path / "meta.json").is_file()
    dump = tmp_path / "shop.sql"
    dump.write_text("CREATE DATABASE shop;\nUSE shop;\nCREATE TABLE items (id int NOT NULL, PRIMARY KEY (id));\n")
    assert build_sqlite(dump).parent == cache / "intercode_sql"
    assert {p.name for p in cache.iterdir()} >= {"registry", "datasets", "webshop-index", "intercode_sql"}


def test_harness_registry_moves_only_the_registry(cache, monkeypatch, tmp_path):
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "shared-registry"))
    assert locations.registry_root() == tmp_path / "shared-registry"
    assert locations.datasets_cache() == cache / "datasets"
    assert locations.cache_root() == cache
