"""Data cards: generated from the data, validated, and every checked-in card in data_cards/ is valid."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from harness.data.build import BuildConfig, build
from harness.data.cards import parse_card, render_card, size_category, validate_card
from harness.data.errors import CardError
from harness.data.folder import read_manifest

CARDS = sorted((Path(__file__).resolve().parent.parent / "data_cards").glob("*.md"))


def test_data_cards_folder_holds_cards():
    assert CARDS, "data_cards/ should hold the card of every dataset the recipes publish"


@pytest.mark.parametrize("card", CARDS, ids=[c.name for c in CARDS])
def test_every_checked_in_card_validates(card):
    meta = validate_card(card.read_text(encoding="utf-8"), str(card))
    assert meta["license"] and meta["configs"]


@pytest.fixture(scope="module")
def manifest(tmp_path_factory, small_catalog):
    out = tmp_path_factory.mktemp("card") / "ds"
    env = {"data": str(small_catalog), "seed": 0}
    build(BuildConfig(split="valid", limit=3, env_kwargs=env), out, command="harness data build webshop --split valid --limit 3")
    build(BuildConfig(split="valid", config="tasks", env_kwargs=env), out)
    return read_manifest(out)


def _edit_meta(card: str, **changes) -> str:
    meta, prose = parse_card(card, "card")
    meta.update(changes)
    return f"---\n{yaml.safe_dump(meta, sort_keys=False)}---\n{prose}"


def test_a_generated_card_describes_the_data_and_validates_against_it(manifest):
    card = render_card(manifest, "acme/webshop")
    meta = validate_card(card, "card", manifest)
    assert [c["config_name"] for c in meta["configs"]] == ["tasks", "expert_trajectories"]
    assert meta["configs"][1]["data_files"] == [{"split": "valid", "path": "expert_trajectories/valid-*.parquet"}]
    assert meta["size_categories"] == ["n<1K"] and "text-generation" in meta["task_categories"]
    prov = manifest["splits"]["expert_trajectories/valid"]["provenance"][0]
    for text in (
        "harness data build webshop --split valid --limit 3",
        prov["config_hash"],
        prov["env_version"],
        "episode 0",
        manifest["dataset_hash"],
    ):
        assert text in card
    assert "generated* WebShop catalog" not in card  # built on an explicit catalog folder


def test_a_card_is_generated_the_same_way_twice(manifest):
    assert render_card(manifest, "acme/webshop") == render_card(manifest, "acme/webshop")


@pytest.mark.parametrize(
    "change, problem",
    [
        ({"license": "proprietary-ish"}, "license 'proprietary-ish'"),
        ({"size_categories": ["1K<n<10K"]}, "size_categories is ['1K<n<10K']"),
        ({"task_categories": ["agent-stuff"]}, "unknown task_categories"),
        (
            {"configs": [{"config_name": "trajectories", "data_files": [{"split": "valid", "path": "x/*.parquet"}]}]},
            "not an artifact type",
        ),
    ],
)
def test_invalid_front_matter_is_reported(manifest, change, problem):
    with pytest.raises(CardError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        validate_card(_edit_meta(render_card(manifest, "acme/webshop"), **change), "card.md")


def test_features_that_differ_from_the_schema_are_reported(manifest):
    card = render_card(manifest, "acme/webshop").replace(
        "  - name: instruction\n    dtype: string", "  - name: instruction\n    dtype: int64", 1
    )
    with pytest.raises(CardError, match="column 'instruction' is int64, expected string"):
        validate_card(card, "card.md")


def test_a_card_that_does_not_match_the_data_is_reported(manifest):
    other = {**manifest, "splits": {k: v for k, v in manifest["splits"].items() if k.startswith("tasks")}}
    card = render_card(other, "acme/webshop")
    with pytest.raises(CardError, match="the card lists rows"):
        validate_card(card, "card.md", manifest)


def test_missing_sections_and_front_matter_are_reported(manifest):
    card = render_card(manifest, "acme/webshop").replace("## Limits", "## Notes")
    with pytest.raises(CardError, match="missing prose section '## Limits'"):
        validate_card(card, "card.md")
    with pytest.raises(CardError, match="no YAML front matter"):
        validate_card("# just prose\n", "card.md")


def test_size_categories_follow_the_hub_buckets():
    assert [size_category(n) for n in (0, 999, 1000, 25_000, 2_000_000)] == ["n<1K", "n<1K", "1K<n<10K", "10K<n<100K", "1M<n<10M"]
