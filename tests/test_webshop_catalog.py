"""Catalog files: the generator writes WebShop's formats; the loader names what is wrong."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from harness.envs.webshop.catalog import CatalogError, load_catalog
from harness.envs.webshop.generator import generate_catalog, write_catalog
from harness.envs.webshop.goals import build_goals, draw_prices, split_goal_ids
from harness.envs.webshop.text_matching import TEXT_MATCHING, normalize_color
from harness.envs.webshop.vocabulary import OPTION_VALUES, PRODUCT_TYPES


def test_generated_products_have_the_original_keys_and_types(small_catalog):
    products = json.loads((small_catalog / "items_shuffle.json").read_text())
    assert len(products) == 240
    for p in products:
        assert isinstance(p["asin"], str) and len(p["asin"]) == 10
        for key in ("name", "full_description", "product_category", "query", "category", "pricing"):
            assert isinstance(p[key], str), key
        assert isinstance(p["small_description"], list) and p["small_description"]
        assert isinstance(p["images"], list) and p["images"]
        assert p["pricing"].startswith("$")
        assert " › " in p["product_category"]
        opts = p["customization_options"]
        assert opts is None or all(isinstance(v, list) and all(set(c) == {"value", "image"} for c in v) for v in opts.values())
    assert any(" - $" in p["pricing"] for p in products)  # some price ranges, as in the real data
    attrs = json.loads((small_catalog / "items_ins_v2.json").read_text())
    assert set(attrs) == {p["asin"] for p in products}
    assert all(isinstance(v["attributes"], list) and v["attributes"] for v in attrs.values())
    human = json.loads((small_catalog / "items_human_ins.json").read_text())
    entries = [e for v in human.values() for e in v]
    assert len(entries) == 600
    for e in entries:
        assert set(e) >= {"asin", "instruction", "instruction_attributes", "instruction_options"}
        assert e["instruction_attributes"] and isinstance(e["instruction_options"], list)


def test_generation_is_byte_identical_for_a_seed(tmp_path):
    def digest(folder):
        return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(folder.glob("items_*.json"))}

    a = digest(write_catalog(tmp_path / "a", n_products=50, n_goals=40, seed=3))
    b = digest(write_catalog(tmp_path / "b", n_products=50, n_goals=40, seed=3))
    c = digest(write_catalog(tmp_path / "c", n_products=50, n_goals=40, seed=4))
    assert a == b
    assert a != c


def test_goals_follow_the_original_construction(small_catalog):
    catalog = load_catalog(small_catalog)
    prices = draw_prices(catalog, seed=0)
    goals = build_goals(catalog, prices, seed=0)
    assert len(goals) == 600
    for g in goals[:100]:
        price = prices[g.asin]
        assert price < g.price_upper <= (int(price // 10) + 4) * 10  # one of the next four $10 steps
        assert g.instruction_text.endswith(f", and price lower than {g.price_upper:.2f} dollars")
        assert g.name == catalog.by_asin[g.asin].name
    assert build_goals(catalog, prices, seed=0) == goals


@pytest.mark.parametrize("fuzzy_ratio", TEXT_MATCHING.values(), ids=TEXT_MATCHING.keys())
def test_vocabulary_values_are_distinguishable_by_the_reward(fuzzy_ratio):
    for t in PRODUCT_TYPES:
        for i, a in enumerate(t.attributes):
            for b in t.attributes[i + 1 :]:
                assert fuzzy_ratio(a, b) <= 85 and a not in b and b not in a, (t.query, a, b)
    for group, values in OPTION_VALUES.items():
        for i, a in enumerate(values):
            for b in values[i + 1 :]:
                assert fuzzy_ratio(normalize_color(a), normalize_color(b)) <= 85, (group, a, b)


def test_ipr_split_scheme_uses_released_ids():
    splits = split_goal_ids(12087, "ipr")
    assert len(splits["test"]) == 200 and len(splits["train"]) == 1624
    assert len(set(splits["test"]) & set(splits["train"])) == 12  # as released; documented
    assert not set(splits["valid"]) & (set(splits["test"]) | set(splits["train"]))
    with pytest.raises(ValueError, match="unknown split scheme"):
        split_goal_ids(10, "eto")


def test_generator_rejects_too_few_products():
    with pytest.raises(ValueError, match="--products must be at least 4"):
        generate_catalog(n_products=2)


@pytest.fixture
def catalog_copy(small_catalog, tmp_path):
    dst = tmp_path / "cat"
    shutil.copytree(small_catalog, dst)
    return dst


def _edit_products(folder, fn):
    path = folder / "items_shuffle.json"
    products = json.loads(path.read_text())
    fn(products)
    path.write_text(json.dumps(products))


def test_missing_folder_and_files_are_named(tmp_path, catalog_copy):
    with pytest.raises(CatalogError, match="does not exist"):
        load_catalog(tmp_path / "nope")
    (catalog_copy / "items_ins_v2.json").unlink()
    with pytest.raises(CatalogError, match=r"no items_ins_v2\*\.json file"):
        load_catalog(catalog_copy)


def test_invalid_json_names_file_and_line(catalog_copy):
    (catalog_copy / "items_human_ins.json").write_text('{"B0": [\n  {"instruction": }\n]}')
    with pytest.raises(CatalogError, match=r"items_human_ins\.json: not valid JSON \(line 2"):
        load_catalog(catalog_copy)


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda ps: ps[3].pop("name"), r"items_shuffle\.json\[3\] \(asin \w+\): missing field 'name'"),
        (lambda ps: ps[5].update(images=[]), r"\[5\] .*'images' must be a non-empty list"),
        (lambda ps: ps[0].update(pricing=12.5), r"\[0\] .*'pricing' must be a string"),
        (lambda ps: ps[1].update(pricing="about twelve"), r"\[1\] .*has no '\$' amount"),
        (lambda ps: ps[2].update(customization_options={"color": ["red"]}), r"customization_options\['color'\]"),
        (lambda ps: ps[4].update(small_description=7), r"'small_description' must be list or str"),
    ],
)
def test_malformed_products_are_named(catalog_copy, edit, message):
    _edit_products(catalog_copy, edit)
    with pytest.raises(CatalogError, match=message):
        load_catalog(catalog_copy)


def test_loader_normalises_like_the_original(catalog_copy):
    def edit(ps):
        ps[0]["customization_options"] = {"Color": [{"value": " Navy/White ", "image": None}]}
        ps[1]["pricing"] = ""
        ps.append(dict(ps[2]))  # duplicate asin: dropped
        ps.append(dict(ps[3], asin="TOO-LONG-ASIN"))  # over 10 characters: dropped

    _edit_products(catalog_copy, edit)
    cat = load_catalog(catalog_copy)
    assert cat.products[0].options == {"color": ["navy | white"]}
    assert (cat.products[1].pricing, cat.products[1].price_tag) == ([100.0], "$100.0")
    assert len(cat.products) == 240
