"""WebShop's purchase reward (Yao et al. 2022, §3 "Reward"), with its full breakdown.

    R = r_type * (N_att + N_opt + [price <= price_upper]) / (|U_att| + |U_opt| + 1)

- N_att: goal attributes matched by a product attribute with token-set ratio > 85 (the world's text
  matching, :func:`~harness.envs.webshop.text_matching.resolve_text_matching`), or found as a
  substring of the lower-cased title, bullet points or description;
- N_opt: goal options matched by a chosen option value (both colour-normalised) with ratio > 85;
- r_type from title_score = |nouns(goal name) & nouns(product name)| / |nouns(goal name)|
  (0.2 when the goal name has no noun): 1 if the query matches, >= 2 product-category segments are
  shared, or title_score > 0.2; else 0.5; then 0.1 if title_score < 0.1; then 0 if title_score == 0.

Success is R == 1.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from harness.envs.webshop.catalog import Product
from harness.envs.webshop.goals import Goal
from harness.envs.webshop.text_matching import NounExtractor, Ratio, normalize_color

MATCH_THRESHOLD = 85  # strictly greater than, as in the original


@dataclass(frozen=True)
class TypeMatch:
    """The r_type factor and what it was derived from."""

    r_type: float
    query_match: bool
    category_match: bool
    title_score: float


@dataclass(frozen=True)
class RewardBreakdown:
    """Every term of the reward, as recorded in the purchase step's ``info``."""

    reward: float
    r_type: float
    query_match: bool
    category_match: bool
    title_score: float
    n_attributes_matched: int
    n_attributes: int
    n_options_matched: int
    n_options: int
    price_ok: bool
    price: float
    price_upper: float

    def to_dict(self) -> dict[str, Any]:
        """Plain-JSON form."""
        return asdict(self)


def _category_segments(path: str) -> set[str]:
    return {x.strip() for x in path.split("›")}


def type_match(product: Product, goal: Goal, nouns: NounExtractor) -> TypeMatch:
    """r_type: whether the purchased product is the kind of thing the goal asks for."""
    query_match = product.query == goal.query
    category_match = len(_category_segments(product.product_category) & _category_segments(goal.product_category)) >= 2
    desired = set(nouns(goal.name))
    # The original divides by the noun *list* length (duplicates counted), intersects as sets.
    desired_list = nouns(goal.name)
    title_score = 0.2 if not desired_list else len(set(nouns(product.name)) & desired) / len(desired_list)
    r_type = 1.0
    if not (query_match or category_match or title_score > 0.2):
        r_type = 0.5
    if title_score < 0.1:
        r_type = 0.1
    if title_score == 0.0:
        r_type = 0.0
    return TypeMatch(r_type, query_match, category_match, title_score)


def count_attribute_matches(product: Product, goal_attributes: tuple[str, ...] | list[str], ratio: Ratio) -> int:
    """N_att: goal attributes found among the product's attributes (``ratio`` > 85) or in its texts."""
    title = product.name.lower()
    bullets = " ".join(product.bullets).lower()
    description = product.description.lower()
    n = 0
    for g in goal_attributes:
        if any(ratio(p, g) > MATCH_THRESHOLD for p in product.attributes):
            n += 1
        elif g in title or g in bullets or g in description:
            n += 1
    return n


def count_option_matches(chosen: list[str], goal_options: tuple[str, ...] | list[str], ratio: Ratio) -> int:
    """N_opt: goal options matched by a chosen option value after colour normalisation (``ratio`` > 85)."""
    chosen_n = [normalize_color(o) for o in chosen]
    n = 0
    for g in goal_options:
        g_n = normalize_color(g)
        if any(ratio(c, g_n) > MATCH_THRESHOLD for c in chosen_n):
            n += 1
    return n


def webshop_reward(
    product: Product, goal: Goal, price: float, chosen_options: dict[str, str], nouns: NounExtractor, ratio: Ratio
) -> RewardBreakdown:
    """Reward of buying ``product`` at ``price`` with ``chosen_options`` for ``goal`` (see module doc);
    ``nouns`` and ``ratio`` are the world's noun extractor and text matching."""
    t = type_match(product, goal, nouns)
    n_att = count_attribute_matches(product, goal.attributes, ratio)
    n_opt = count_option_matches(list(chosen_options.values()), goal.options, ratio)
    price_ok = price <= goal.price_upper
    total = (n_att + n_opt + int(price_ok)) / (len(goal.attributes) + len(goal.options) + 1)
    return RewardBreakdown(
        reward=total * t.r_type,
        r_type=t.r_type,
        query_match=t.query_match,
        category_match=t.category_match,
        title_score=t.title_score,
        n_attributes_matched=n_att,
        n_attributes=len(goal.attributes),
        n_options_matched=n_opt,
        n_options=len(goal.options),
        price_ok=price_ok,
        price=price,
        price_upper=goal.price_upper,
    )
