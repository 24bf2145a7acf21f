"""WebShop's purchase reward, worked by hand for every branch of the formula."""

from __future__ import annotations

import pytest

from harness.envs.webshop.catalog import Product
from harness.envs.webshop.goals import Goal
from harness.envs.webshop.reward import count_attribute_matches, count_option_matches, type_match, webshop_reward
from harness.envs.webshop.text_matching import TEXT_MATCHING, heuristic_nouns, normalize_color, original_ratio


def product(**kw) -> Product:
    base = dict(
        asin="B000000001",
        name="Acme Sulfate Free Shampoo for Dry Hair",
        description="A gentle shampoo with argan oil.",
        bullets=["Color safe formula", "Made in Spain"],
        options={"scent": ["lavender", "citrus"], "size": ["8 oz", "16 oz"]},
        attributes=["sulfate free", "paraben free"],
        category="beauty",
        query="shampoo",
        product_category="Beauty › Hair Care › Shampoo",
        pricing=[12.0],
        price_tag="$12.0",
    )
    base.update(kw)
    return Product(**base)


def goal(**kw) -> Goal:
    base = dict(
        asin="B000000001",
        category="beauty",
        query="shampoo",
        name="Acme Sulfate Free Shampoo for Dry Hair",
        product_category="Beauty › Hair Care › Shampoo",
        instruction_text="i need sulfate free shampoo, and price lower than 20.00 dollars",
        attributes=("sulfate free",),
        options=(),
        price_upper=20.0,
    )
    base.update(kw)
    return Goal(**base)


NOUNS = heuristic_nouns
RATIO = original_ratio  # the original's text matching (the default for --data catalogs)


def test_perfect_purchase_scores_one():
    r = webshop_reward(product(), goal(options=("lavender",)), 12.0, {"scent": "lavender"}, NOUNS, RATIO)
    # (1 attribute + 1 option + price) / (1 + 1 + 1) * r_type 1
    assert r.reward == 1.0
    assert (r.n_attributes_matched, r.n_options_matched, r.price_ok, r.r_type) == (1, 1, True, 1.0)


def test_over_budget_loses_the_price_term():
    r = webshop_reward(product(), goal(), 25.0, {}, NOUNS, RATIO)
    assert r.price_ok is False
    assert r.reward == pytest.approx(1 / 2)  # (1 + 0 + 0) / (1 + 0 + 1)


def test_price_equal_to_ceiling_is_within_budget():
    assert webshop_reward(product(), goal(), 20.0, {}, NOUNS, RATIO).price_ok is True


def test_missing_option_counts_in_denominator():
    r = webshop_reward(product(), goal(options=("lavender", "16 oz")), 12.0, {"scent": "lavender"}, NOUNS, RATIO)
    assert r.n_options_matched == 1
    assert r.reward == pytest.approx(3 / 4)  # (1 + 1 + 1) / (1 + 2 + 1)


def test_attribute_found_only_in_text_still_counts():
    # "argan oil" is not in the attribute list but is in the description (substring rule).
    r = webshop_reward(product(), goal(attributes=("sulfate free", "argan oil", "vegan")), 12.0, {}, NOUNS, RATIO)
    assert r.n_attributes_matched == 2
    assert r.reward == pytest.approx(3 / 4)  # (2 + 0 + 1) / (3 + 0 + 1)


@pytest.mark.parametrize("ratio", TEXT_MATCHING.values(), ids=TEXT_MATCHING.keys())
def test_attribute_fuzzy_threshold_is_strictly_above_85(ratio):
    p = product(attributes=["long lasting"])
    assert count_attribute_matches(p, ["long lasting"], ratio) == 1
    assert ratio("long lasting", "long-lasting!") == 100  # punctuation is normalised away
    assert count_attribute_matches(p, ["long-lasting"], ratio) == 1
    assert ratio("long lasting", "lasting") == 100  # token subset: token-set ratio is 100
    assert ratio("1 count", "12 count") > 85  # why the generator avoids such option values
    assert count_attribute_matches(product(attributes=["water resistant"]), ["wrinkle resistant"], ratio) == 0


def test_option_colours_are_normalised_before_matching():
    # "dark navy blue" normalises to "blue" (first colour word in vocabulary order), as does "blue".
    assert normalize_color("dark navy blue") == "blue"
    assert count_option_matches(["dark navy blue"], ["blue"], RATIO) == 1
    assert normalize_color("sandalwood") == "sand"
    assert normalize_color("16 oz") == "16 oz"


def test_type_reward_query_match_keeps_full_credit_with_partial_title():
    # Goal nouns: acme, sulfate, shampoo, hair (4); purchased shares 'shampoo' only -> 0.25 > 0.2
    t = type_match(product(name="Zeta Shampoo"), goal(name="Acme Sulfate Shampoo Hair"), NOUNS)
    assert t.title_score == pytest.approx(0.25)
    assert t.r_type == 1.0


def test_type_reward_half_when_nothing_but_a_weak_title_overlap():
    g = goal(name="Acme Shampoo Hair Scalp Oil Wash Kit Set Box Jar", query="shampoo")
    p = product(name="Zeta Shampoo", query="conditioner", product_category="Home › Kitchen")
    t = type_match(p, g, NOUNS)
    assert (t.query_match, t.category_match) == (False, False)
    assert 0.1 <= t.title_score <= 0.2
    assert t.r_type == 0.5


def test_type_reward_point_one_below_ten_percent_overlap():
    g = goal(name="Shampoo " + " ".join(f"word{c}" for c in "abcdefghijk"), query="x")
    t = type_match(product(query="y", product_category="A › B"), g, NOUNS)
    assert 0 < t.title_score < 0.1
    assert t.r_type == 0.1


def test_type_reward_zero_without_shared_noun_even_if_query_matches():
    t = type_match(product(name="Zeta Toaster"), goal(name="Acme Shampoo"), NOUNS)
    assert t.query_match is True and t.title_score == 0.0
    assert t.r_type == 0.0
    assert webshop_reward(product(name="Zeta Toaster"), goal(name="Acme Shampoo"), 1.0, {}, NOUNS, RATIO).reward == 0.0


def test_category_match_needs_two_shared_segments():
    g = goal(name="Acme Shampoo Hair Scalp Oil Wash Kit Set Box Jar", query="q1")
    one = product(name="Zeta Shampoo", query="q2", product_category="Beauty › Kitchen")
    two = product(name="Zeta Shampoo", query="q2", product_category="Beauty › Hair Care › Other")
    assert type_match(one, g, NOUNS).category_match is False
    assert type_match(two, g, NOUNS).category_match is True
    assert type_match(two, g, NOUNS).r_type == 1.0


def test_goal_without_nouns_gets_title_score_point_two():
    t = type_match(product(), goal(name="the very best"), NOUNS)
    assert t.title_score == 0.2
    assert t.r_type == 1.0  # query matches, and 0.2 >= 0.1


def test_heuristic_nouns_keep_product_words_and_drop_function_words():
    assert heuristic_nouns("The Best Shampoo for Dry Hair, 2 Pack") == ("shampoo", "dry", "hair", "pack")
