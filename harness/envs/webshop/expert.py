"""The scripted WebShop oracle: knows the goal, searches for it, picks the best product, buys.

Strategy: search the goal's attributes and product type; on a results page open the first product
that can reach the best reward the goal allows (the target or an equally good one), else try the
next page, else search the target's exact name; on the product page select the option value that
best matches each goal option, then buy. Every action is preceded by a short thought whose wording
varies with a seeded draw.
"""

from __future__ import annotations

import random
from typing import TYPE_CHECKING

from harness.envs.webshop import pages
from harness.envs.webshop.catalog import Product
from harness.envs.webshop.reward import webshop_reward
from harness.envs.webshop.text_matching import Ratio, normalize_color

if TYPE_CHECKING:
    from harness.envs.webshop.env import WebShopEnv

MAX_RESULT_PAGES = 2  # pages browsed before searching the exact name instead

_THOUGHTS = {
    "search": (
        "I should search for the product first.",
        "Let me use the search box to find {query} with the features I need.",
        "I will search for {query} using the key attributes from the instruction.",
        "First, I need to look up {query}.",
    ),
    "open": (
        "{asin} looks like it matches what I need. Let me open it.",
        "The product {asin} seems to fit the requirements, so I will check it.",
        "I think {asin} is the right one; I'll click on it.",
        "{asin} matches the attributes and the budget. Let me look at it.",
    ),
    "next": (
        "None of these products fit well. Let me check the next page.",
        "I don't see a good match here, so I'll go to the next page.",
    ),
    "research": (
        "These results are not good enough. I will search again with more specific words.",
        "I should refine my search to find a better match.",
    ),
    "option": (
        "I need to select '{value}' for {group}.",
        "The instruction asks for {value}, so I'll choose that option.",
        "Let me pick the {group} option '{value}'.",
    ),
    "buy": (
        "Everything matches the instruction now. I'll buy it.",
        "All the required options are selected, so I can click Buy Now.",
        "This product meets the requirements. Time to purchase it.",
    ),
    "back": ("I have seen enough here. Let me go back to the product page.",),
}


def best_options(product: Product, goal_options: tuple[str, ...], ratio: Ratio) -> dict[str, str]:
    """For each goal option, the product's closest option value by ``ratio`` (one value per option group)."""
    chosen: dict[str, str] = {}
    for g in goal_options:
        g_n = normalize_color(g)
        best = None
        for group, values in product.options.items():
            for v in values:
                score = ratio(normalize_color(v), g_n)
                if best is None or score > best[0]:
                    best = (score, group, v)
        if best is not None and best[0] > 0 and best[1] not in chosen:
            chosen[best[1]] = best[2]
    return chosen


def achievable_reward(env: WebShopEnv, product: Product) -> float:
    """Reward of buying ``product`` with the best-matching options for the current goal."""
    goal = env.goal
    opts = best_options(product, goal.options, env.world.ratio)
    return webshop_reward(product, goal, env.world.prices[product.asin], opts, env.world.nouns, env.world.ratio).reward


def _say(rng: random.Random, kind: str, **fields: str) -> str:
    return rng.choice(_THOUGHTS[kind]).format(**fields)


def expert_reply(env: WebShopEnv, rng: random.Random) -> tuple[str, str]:
    """The oracle's (thought, action) for the current page of ``env``."""
    goal, s = env.goal, env.state
    target = env.world.catalog.by_asin[goal.asin]
    steps_left = env.max_steps - env.steps_taken
    if s.kind == "start":
        query = " ".join([*goal.attributes, goal.query]).strip() or target.name.lower()
        return _say(rng, "search", query=goal.query or "the product"), f"search[{query}]"
    if s.kind == "results":
        best = achievable_reward(env, target)
        for p in pages.page_products(s):
            if achievable_reward(env, p) >= best - 1e-9:
                return _say(rng, "open", asin=p.asin), f"click[{p.asin}]"  # as shown on the page (as in the ReAct/ETO data)
        if s.page < MAX_RESULT_PAGES and len(s.results) > s.page * pages.PRODUCTS_PER_PAGE and steps_left > 4:
            return _say(rng, "next"), f"click[{pages.NEXT_PAGE}]"
        return _say(rng, "research"), f"search[{target.name.lower()}]"
    if s.kind == "item":
        wanted = best_options(s.product, goal.options, env.world.ratio)
        for group, value in wanted.items():
            if s.options.get(group) != value and steps_left > 1:
                return _say(rng, "option", value=value, group=group), f"click[{value}]"
        return _say(rng, "buy"), f"click[{pages.BUY_NOW}]"
    if s.kind == "sub":
        return _say(rng, "back"), f"click[{pages.PREV_PAGE}]"
    raise RuntimeError("the expert was asked to act after the episode ended")
