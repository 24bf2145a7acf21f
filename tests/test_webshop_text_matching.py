"""WebShop's fuzzy text matching as the original reward computes it, checked against the original's pin.

The original reward calls ``thefuzz.fuzz.token_set_ratio`` of ``thefuzz==0.19.0`` (WebShop's
requirements) without python-Levenshtein. ``thefuzz-0.19`` must equal it on any text; the legacy
``rapidfuzz-v1`` differs on three kinds of real-format text, and makes the same > 85 decisions as
the original on every pair the generated catalog holds (why it stays that catalog's default).
"""

from __future__ import annotations

import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from harness.envs.webshop.catalog import Product
from harness.envs.webshop.env import load_world
from harness.envs.webshop.goals import Goal
from harness.envs.webshop.reward import MATCH_THRESHOLD, webshop_reward
from harness.envs.webshop.text_matching import (
    fuzzy_ratio,
    heuristic_nouns,
    normalize_color,
    original_ratio,
    resolve_text_matching,
)

with warnings.catch_warnings():  # "Using slow pure-python SequenceMatcher": exactly the pin's configuration
    warnings.simplefilter("ignore")
    from thefuzz import fuzz as thefuzz_0_19

# Letters, digits, punctuation, '_', Latin-1 (deleted by the original), typographic quotes and other
# scripts (turned into spaces or kept as letters), and whitespace.
TEXT = st.text(alphabet=st.sampled_from(list("abcdefgh xyzAB019 -_'./&,!()|") + ["’", "é", "ü", "ñ", "°", "×", "–", "Ω", "漢", "\t", "\u00a0"]),
               max_size=24)  # fmt: skip


def test_thefuzz_is_the_pinned_release_without_levenshtein():
    import importlib.metadata

    assert importlib.metadata.version("thefuzz") == "0.19.0"
    assert thefuzz_0_19.SequenceMatcher.__module__ == "difflib"


@settings(max_examples=400, deadline=None, derandomize=True)
@given(TEXT, TEXT)
def test_the_original_ratio_equals_the_pinned_thefuzz_on_any_text(a, b):
    assert original_ratio(a, b) == thefuzz_0_19.token_set_ratio(a, b)


@pytest.mark.parametrize("a, b, original, legacy", [
    ("women’s 8", "women's 8", 100, 82),        # U+2019 becomes a space in the original, is deleted in rapidfuzz-v1
    ("pack_of_2", "pack of 2", 44, 100),          # '_' is a word character for the original
    ("chhijeafdhb", "cjhihieafdhb", 78, 87),      # difflib's matching blocks vs the Indel distance
    ("Café Crème", "cafe creme", 89, 89),          # Latin-1 letters are deleted by both
])  # fmt: skip
def test_the_three_differences_on_real_format_text(a, b, original, legacy):
    assert original_ratio(a, b) == thefuzz_0_19.token_set_ratio(a, b) == original
    assert fuzzy_ratio(a, b) == legacy


def shoe(option: str) -> Product:
    return Product(asin="B07REAL001", name="Trail Running Shoe for Women", description="A light running shoe.",
                   bullets=["Breathable mesh"], options={"size": [option, "women’s 9"]}, attributes=["breathable mesh"],
                   category="fashion", query="running shoes", product_category="Shoes › Women › Running",
                   pricing=[40.0], price_tag="$40.0")  # fmt: skip


def test_a_real_format_option_scores_as_the_original_does():
    """A product page's 'women’s 8' bought for a goal asking for "women's 8": the original matches it."""
    goal = Goal(asin="B07REAL001", category="fashion", instruction_text="i want trail running shoes, women's 8, price lower than 50.00 dollars",
                query="running shoes", name="Trail Running Shoe for Women", product_category="Shoes › Women › Running",
                attributes=("breathable mesh",), options=("women's 8",), price_upper=50.0)  # fmt: skip
    chosen = {"size": "women’s 8"}
    original = webshop_reward(shoe("women’s 8"), goal, 40.0, chosen, heuristic_nouns, original_ratio)
    legacy = webshop_reward(shoe("women’s 8"), goal, 40.0, chosen, heuristic_nouns, fuzzy_ratio)
    assert original.n_options_matched == 1 and original.reward == 1.0
    assert legacy.n_options_matched == 0 and legacy.reward == pytest.approx(2 / 3)


def test_data_catalogs_use_the_original_matching_and_say_so_in_the_version(small_catalog):
    generated = load_world(None, 0, "heuristic", "webshop")
    assert generated.text_matching == "rapidfuzz-v1" and "/text-" not in generated.version  # every recorded version
    data = load_world(str(small_catalog), 0, "heuristic", "webshop")
    assert data.text_matching == "thefuzz-0.19" and "/nouns-heuristic-v1/text-thefuzz-0.19/catalog-" in data.version
    legacy = load_world(str(small_catalog), 0, "heuristic", "webshop", "rapidfuzz-v1")
    assert "/text-" not in legacy.version and legacy.version != data.version
    with pytest.raises(ValueError, match="unknown text matching 'levenshtein'; use auto, thefuzz-0.19, rapidfuzz-v1"):
        resolve_text_matching("levenshtein", generated_catalog=False)


def test_on_the_generated_catalog_both_matchings_make_the_same_decisions():
    """Every (product attribute, goal attribute) and (option value, goal option) pair of the generated
    catalog gets the same > 85 decision from both: its rewards are the original's under either."""
    world = load_world(None, 0, "heuristic", "webshop")
    attributes = {a for p in world.catalog.products for a in p.attributes}
    options = {normalize_color(v) for p in world.catalog.products for values in p.options.values() for v in values}
    goal_attributes = {a for g in world.goals for a in g.attributes}
    goal_options = {normalize_color(o) for g in world.goals for o in g.options}
    pairs = [(a, g) for a in attributes for g in goal_attributes] + [(o, g) for o in options for g in goal_options]
    assert len(pairs) > 60_000
    flips = [(a, g) for a, g in pairs if (original_ratio(a, g) > MATCH_THRESHOLD) != (fuzzy_ratio(a, g) > MATCH_THRESHOLD)]
    assert flips == []
