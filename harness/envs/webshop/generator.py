"""A deterministic generator of WebShop catalogs, written in WebShop's own file formats.

This is a synthetic catalog (not Amazon's products): every product is built from
``vocabulary.py``. Products come in families of four, so searching and choosing matter:

- the *reference* product;
- an *attribute near-miss*: same type and options, one attribute swapped for another;
- an *option near-miss*: same type and attributes, but none of the reference's option values;
- an *over-budget twin*: same type, attributes and options, priced at least $45 above the reference
  (beyond any price ceiling its goals can draw).

Goals are human-style instructions (``items_human_ins.json``) naming the product type, some of the
target's attributes and some of its option values; the environment adds the price ceiling, as the
original does. Same parameters and seed give byte-identical files.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
from pathlib import Path
from typing import Any

from harness.envs.webshop.catalog import gc_paused
from harness.envs.webshop.vocabulary import (
    BRAND_SYLLABLES,
    DESCRIPTION_OPENERS,
    OPTION_VALUES,
    PRODUCT_TYPES,
    ProductType,
)

GENERATOR_VERSION = "1"
DEFAULT_PRODUCTS = 2000
DEFAULT_GOALS = 3000
DEFAULT_SEED = 0
_B36 = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"
_JSON_CHUNK = 10_000  # entries encoded per json.dumps call when writing (bounds the extra memory)

_TEMPLATES = (
    "i'm looking for {a} {type} that is {attrs}{opts}",
    "i need {a} {attrs} {type}{opts}",
    "find me {a} {type}, {attrs}{opts}",
    "i want to buy {a} {attrs} {type}{opts}",
    "looking for {a} {type} which is {attrs}{opts}",
    "can you get me {a} {attrs} {type}{opts}",
)


def _asin(n: int) -> str:
    digits = []
    for _ in range(8):
        n, r = divmod(n, 36)
        digits.append(_B36[r])
    return "B0" + "".join(reversed(digits))


def _brand(rng: random.Random) -> str:
    return "".join(rng.choice(BRAND_SYLLABLES) for _ in range(rng.randint(2, 3))).capitalize()


def _join(items: list[str]) -> str:
    return items[0] if len(items) == 1 else ", ".join(items[:-1]) + " and " + items[-1]


class _Builder:
    def __init__(self, rng: random.Random, asins: list[int]):
        self.rng = rng
        self.asins = iter(asins)

    def product(self, t: ProductType, attrs: list[str], options: dict[str, list[str]], price: tuple[float, float | None]) -> dict[str, Any]:
        rng = self.rng
        brand = _brand(rng)
        shown = attrs[: rng.randint(1, 2)]
        title = f"{brand} {' '.join(a.title() for a in shown)} {t.query.title()}"
        if t.suffixes and rng.random() < 0.7:
            title += ", " + rng.choice(t.suffixes)
        opener = rng.choice(DESCRIPTION_OPENERS).format(brand=brand, noun=t.noun)
        description = f"{opener} {_join(attrs)}. Made for people who want a {t.noun} that just works."
        bullets = [f"{a.capitalize()}: a {t.noun} you can rely on" for a in attrs]
        low, high = price
        pricing = f"${low:.2f}" if high is None else f"${low:.2f} - ${high:.2f}"
        asin = _asin(next(self.asins))
        return {
            "asin": asin,
            "name": title,
            "full_description": description,
            "small_description": bullets,
            "customization_options": {g: [{"value": v, "image": None} for v in vals] for g, vals in options.items()} or None,
            "images": [f"generated://webshop/{asin}.jpg"],
            "product_category": t.path,
            "query": t.query,
            "category": t.category,
            "pricing": pricing,
            "average_rating": None,
            "_attributes": attrs,  # moved to items_ins_v2.json before writing
        }

    def price(self) -> tuple[float, float | None]:
        low = round(self.rng.uniform(5, 150), 2)
        return (low, round(low * 1.2, 2)) if self.rng.random() < 0.15 else (low, None)

    def family(self, t: ProductType) -> list[dict[str, Any]]:
        rng = self.rng
        attrs = rng.sample(t.attributes, rng.randint(3, 4))
        groups = [g for i, g in enumerate(t.option_groups) if i == 0 or rng.random() < 0.7]
        options = {g: rng.sample(OPTION_VALUES[g], rng.randint(2, min(4, len(OPTION_VALUES[g]) - 1))) for g in groups}
        price = self.price()
        ref = self.product(t, attrs, options, price)
        swapped = list(attrs)
        swapped[rng.randrange(len(attrs))] = rng.choice([a for a in t.attributes if a not in attrs])
        attr_miss = self.product(t, swapped, options, self.price())
        other = {}
        for g, vals in options.items():
            rest = [v for v in OPTION_VALUES[g] if v not in vals]
            other[g] = rng.sample(rest, min(4, len(rest)))
        option_miss = self.product(t, attrs, other, self.price())
        top = price[1] if price[1] is not None else price[0]
        over = self.product(t, attrs, options, (round(top + 45 + rng.uniform(0, 60), 2), None))
        return [ref, attr_miss, option_miss, over]

    def instruction(self, product: dict[str, Any], t: ProductType) -> dict[str, Any]:
        rng = self.rng
        attrs = rng.sample(product["_attributes"], min(len(product["_attributes"]), rng.choice((1, 2, 2, 3))))
        opts: list[str] = []
        phrases: list[str] = []
        for group, values in (product["customization_options"] or {}).items():
            if rng.random() < 0.75:
                value = rng.choice(values)["value"]
                opts.append(value)
                phrases.append(rng.choice((f"{group}: {value}", f"{value} {group}", f"in {value}" if group == "color" else f"{group} {value}")))
        text = rng.choice(_TEMPLATES).format(
            a="an" if t.query[0] in "aeiou" else "a",
            type=t.query,
            attrs=_join(attrs),
            opts=(" with " + _join(phrases)) if phrases else "",
        )
        return {"asin": product["asin"], "instruction": text, "instruction_attributes": attrs, "instruction_options": opts}


def _dump_compact(value: list | dict, fh: Any) -> None:
    """Write ``value`` as ``json.dump(value, fh, ensure_ascii=False, separators=(",", ":"))`` would.

    ``json.dump`` streams through the pure-Python encoder; ``json.dumps`` uses the C encoder (about
    ten times faster). Encoding the top-level list or dict in chunks with ``json.dumps`` and joining
    them with commas gives the same bytes without holding the whole file text in memory.
    """
    is_list = isinstance(value, list)
    entries = value if is_list else list(value.items())
    fh.write("[" if is_list else "{")
    for start in range(0, len(entries), _JSON_CHUNK):
        chunk = entries[start : start + _JSON_CHUNK]
        text = json.dumps(chunk if is_list else dict(chunk), ensure_ascii=False, separators=(",", ":"))
        if start:
            fh.write(",")
        fh.write(text[1:-1])  # drop the chunk's own brackets
    fh.write("]" if is_list else "}")


@gc_paused()
def generate_catalog(n_products: int = DEFAULT_PRODUCTS, n_goals: int = DEFAULT_GOALS, seed: int = DEFAULT_SEED) -> dict[str, Any]:
    """Build the three WebShop files' contents: ``products``, ``attributes`` and ``human_instructions``."""
    if n_products < 4:
        raise ValueError(f"--products must be at least 4 (one product family), got {n_products}")
    if n_goals < 1:
        raise ValueError(f"--goals must be at least 1, got {n_goals}")
    rng = random.Random(f"webshop-catalog:{GENERATOR_VERSION}:{seed}")
    builder = _Builder(rng, rng.sample(range(36**8), n_products + 4))
    types = {t.query: t for t in PRODUCT_TYPES}
    products: list[dict[str, Any]] = []
    f = 0
    while len(products) < n_products:
        products.extend(builder.family(PRODUCT_TYPES[f % len(PRODUCT_TYPES)]))
        f += 1
    products = products[:n_products]
    rng.shuffle(products)  # the original file is "items_shuffle": families are not contiguous
    instructions: dict[str, list[dict[str, Any]]] = {}
    seen: set[tuple] = set()
    attempts = 0
    while len(seen) < n_goals and attempts < 20 * n_goals:  # len(seen) == instructions kept
        attempts += 1
        p = products[rng.randrange(len(products))]
        ins = builder.instruction(p, types[p["query"]])
        key = (p["asin"], tuple(sorted(ins["instruction_attributes"])), tuple(sorted(ins["instruction_options"])))
        if key not in seen:
            seen.add(key)
            instructions.setdefault(p["asin"], []).append(ins)
    attributes = {}
    for p in products:
        attrs = p.pop("_attributes")
        attributes[p["asin"]] = {"attributes": attrs, "instruction": None, "instruction_attributes": None}
    human = {p["asin"]: instructions[p["asin"]] for p in products if p["asin"] in instructions}
    return {"products": products, "attributes": attributes, "human_instructions": human}


@gc_paused()
def write_catalog(output: str | Path, n_products: int = DEFAULT_PRODUCTS, n_goals: int = DEFAULT_GOALS, seed: int = DEFAULT_SEED) -> Path:
    """Generate a catalog and write it atomically to ``output`` in WebShop's file formats."""
    output = Path(output)
    data = generate_catalog(n_products, n_goals, seed)
    output.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=output.name + ".tmp-", dir=output.parent))
    try:
        for name, key in (("items_shuffle.json", "products"), ("items_ins_v2.json", "attributes"), ("items_human_ins.json", "human_instructions")):
            with open(tmp / name, "w", encoding="utf-8") as fh:
                _dump_compact(data[key], fh)
        manifest = {
            "generator": "harness.envs.webshop.generator",
            "generator_version": GENERATOR_VERSION,
            "products": n_products,
            "goals_requested": n_goals,
            "instructions": sum(len(v) for v in data["human_instructions"].values()),
            "seed": seed,
            "note": "Synthetic catalog generated by harness; not WebShop's scraped Amazon products.",
        }
        (tmp / "catalog_manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
        if output.exists():
            shutil.rmtree(output)
        os.replace(tmp, output)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return output


def default_catalog_dir() -> Path:
    """The default generated catalog, created on first use in the cache and reused afterwards."""
    from harness.locations import cache_root

    path = cache_root() / "webshop-catalog" / f"gen-v{GENERATOR_VERSION}-p{DEFAULT_PRODUCTS}-g{DEFAULT_GOALS}-s{DEFAULT_SEED}"
    if not (path / "items_human_ins.json").exists():
        write_catalog(path)
    return path
