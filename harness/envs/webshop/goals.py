"""Goals (what the shopper is asked to buy), product prices, and the task splits.

Goals are built as the original WebShop builds human goals: one goal per instruction with at least
one attribute, in product-file order, with a price ceiling drawn from the next multiples of $10
above the product's price; then the list is shuffled with the original's fixed seed 233, so the goal
index (our task id) means the same goal as a WebShop "session id" in published splits. Unlike the
original, the price draws are seeded here (the original leaves them unseeded, so its instruction
texts change between runs).
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from importlib import resources

from harness.envs.webshop.catalog import Catalog

PRICE_STEPS: tuple[float, ...] = tuple(10.0 * i for i in range(1, 100))
GOAL_SHUFFLE_SEED = 233  # fixed by the original environment; keeps session ids comparable
NO_PRICE_LIMIT = 1_000_000.0

SPLIT_SCHEMES = ("webshop", "ipr")
SPLITS = ("train", "valid", "test")


@dataclass(frozen=True, slots=True)
class Goal:
    """One shopping goal; ``name`` is the target product's name (used by the type reward)."""

    asin: str
    category: str
    query: str
    name: str
    product_category: str
    instruction_text: str
    attributes: tuple[str, ...]
    options: tuple[str, ...]
    price_upper: float


def draw_prices(catalog: Catalog, seed: int) -> dict[str, float]:
    """Price of every product: the single price, or uniform inside a price range (seeded)."""
    rng = random.Random(f"webshop-prices:{seed}")
    prices = {}
    for p in catalog.products:
        prices[p.asin] = p.pricing[0] if len(p.pricing) == 1 else rng.uniform(p.pricing[0], p.pricing[1])
    return prices


def build_goals(catalog: Catalog, prices: dict[str, float], seed: int) -> list[Goal]:
    """All goals in the original's order (product order, then instruction order, then shuffle 233)."""
    rng = random.Random(f"webshop-goals:{seed}")
    goals: list[Goal] = []
    for p in catalog.products:
        for ins in catalog.instructions.get(p.asin, ()):
            if not ins.attributes:
                continue  # the original makes no goal from an instruction without attributes
            steps = [s for s in PRICE_STEPS if s > prices[p.asin]][:4]
            if len(steps) >= 2:
                price_upper = sorted(rng.sample(steps, 2))[1]
                price_text = f", and price lower than {price_upper:.2f} dollars"
            else:
                price_upper, price_text = NO_PRICE_LIMIT, ""
            goals.append(
                Goal(
                    asin=p.asin,
                    category=p.category,
                    query=p.query,
                    name=p.name,
                    product_category=p.product_category,
                    instruction_text=ins.instruction.strip(".") + price_text,
                    attributes=ins.attributes,
                    options=ins.options,
                    price_upper=price_upper,
                )
            )
    random.Random(GOAL_SHUFFLE_SEED).shuffle(goals)
    return goals


def _ipr_ids(name: str) -> list[int]:
    text = resources.files("harness.envs.webshop").joinpath("splits", name).read_text()
    return json.loads(text)


def split_goal_ids(n_goals: int, scheme: str) -> dict[str, list[int]]:
    """Goal indices of each split.

    ``webshop``: the WebShop paper's rule, goals 0-499 test, 500-1499 valid, 1500+ train.
    ``ipr``: IPR's released lists (200 test, 1,624 train; 12 ids are in both, kept as released);
    valid = the paper's 500-1499 range minus every IPR train/test id (IPR has no validation list).
    """
    if scheme == "webshop":
        ids = range(n_goals)
        return {
            "test": [i for i in ids if i < 500],
            "valid": [i for i in ids if 500 <= i < 1500],
            "train": [i for i in ids if i >= 1500],
        }
    if scheme == "ipr":
        train = [i for i in _ipr_ids("ipr_train_indices.json") if i < n_goals]
        test = [i for i in _ipr_ids("ipr_test_indices.json") if i < n_goals]
        used = set(train) | set(test)
        return {"test": test, "valid": [i for i in range(500, min(1500, n_goals)) if i not in used], "train": train}
    raise ValueError(f"unknown split scheme '{scheme}'; choose one of {', '.join(SPLIT_SCHEMES)}")
