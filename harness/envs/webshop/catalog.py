"""Read a WebShop catalog from the original project's file formats, validating every field used.

A catalog folder holds three JSON files, as the original WebShop ``data/`` folder does:

- ``items_shuffle*.json``: list of products (``asin``, ``name``, ``full_description``,
  ``small_description``, ``customization_options``, ``images``, ``product_category``, ``query``,
  ``category``, optional ``pricing`` string such as ``"$12.99"`` or ``"$12.99 - $24.99"``);
- ``items_ins_v2*.json``: ``{asin: {"attributes": [...], ...}}``;
- ``items_human_ins.json``: ``{asin: [{"instruction", "instruction_attributes",
  "instruction_options", ...}]}``.

Products are normalised the way the original loader does (duplicate or over-long asins dropped,
option values lower-cased with ``/`` shown as `` | ``, missing prices = $100, missing attributes =
``DUMMY_ATTR``), so goals, observations and rewards line up with published results.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any


class CatalogError(ValueError):
    """A catalog file is missing or malformed; the message names the file, entry and field."""


@dataclass(slots=True)
class Product:
    """One product as the environment shows and scores it."""

    asin: str
    name: str
    description: str
    bullets: list[str]
    options: dict[str, list[str]]
    attributes: list[str]
    category: str
    query: str
    product_category: str
    pricing: list[float]
    price_tag: str


@dataclass(frozen=True, slots=True)
class Instruction:
    """A human (or generated) instruction attached to a target product."""

    asin: str
    instruction: str
    attributes: tuple[str, ...]
    options: tuple[str, ...]


@dataclass
class Catalog:
    """Products in file order plus the instructions that become goals."""

    products: list[Product]
    by_asin: dict[str, Product]
    instructions: dict[str, list[Instruction]]
    source: dict[str, str]
    """Logical file name -> path it was read from."""


def _find(folder: Path, pattern: str, preferred: str) -> Path:
    exact = folder / preferred
    if exact.exists():
        return exact
    matches = sorted(folder.glob(pattern))
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise CatalogError(
            f"{folder}: no {pattern} file. A WebShop catalog folder needs items_shuffle*.json, "
            "items_ins_v2*.json and items_human_ins.json (generate one with "
            "`harness data generate webshop --output DIR`)."
        )
    raise CatalogError(f"{folder}: several files match {pattern} ({', '.join(m.name for m in matches)}); keep one.")


def _load_json(path: Path) -> Any:
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except json.JSONDecodeError as e:
        raise CatalogError(f"{path}: not valid JSON (line {e.lineno}, column {e.colno}: {e.msg}).") from None


def parse_pricing(text: Any, where: str) -> tuple[list[float], str]:
    """Parse WebShop's ``pricing`` string into one price or a [low, high] range and its display tag."""
    if text is None or text == "" or text == []:
        return [100.0], "$100.0"
    if not isinstance(text, str):
        raise CatalogError(f"{where}: field 'pricing' must be a string like '$12.99' or '$5.00 - $9.00', got {text!r}.")
    try:
        prices = [float(Decimal(re.sub(r"[^\d.]", "", part))) for part in text.split("$")[1:]]
    except InvalidOperation:
        raise CatalogError(f"{where}: field 'pricing' has an unreadable price: {text!r}.") from None
    if not prices:
        raise CatalogError(f"{where}: field 'pricing' has no '$' amount: {text!r}.")
    if len(prices) == 1:
        return prices, f"${prices[0]}"
    return prices[:2], f"${prices[0]} to ${prices[1]}"


def _require(entry: dict, key: str, types: type | tuple[type, ...], where: str) -> Any:
    if key not in entry:
        raise CatalogError(f"{where}: missing field '{key}'.")
    value = entry[key]
    if not isinstance(value, types):
        names = types.__name__ if isinstance(types, type) else " or ".join(t.__name__ for t in types)
        raise CatalogError(f"{where}: field '{key}' must be {names}, got {type(value).__name__}.")
    return value


def _product(raw: Any, i: int, path: Path, attributes: dict[str, Any]) -> Product | None:
    where = f"{path.name}[{i}]"
    if not isinstance(raw, dict):
        raise CatalogError(f"{where}: each product must be a JSON object.")
    asin = _require(raw, "asin", str, where)
    where = f"{path.name}[{i}] (asin {asin})"
    if asin == "nan" or len(asin) > 10:  # the original loader drops these silently
        return None
    name = _require(raw, "name", str, where)
    description = _require(raw, "full_description", str, where)
    small = _require(raw, "small_description", (list, str), where)
    images = _require(raw, "images", list, where)
    if not images:
        raise CatalogError(f"{where}: field 'images' must be a non-empty list.")
    product_category = _require(raw, "product_category", str, where)
    query = _require(raw, "query", str, where)
    category = _require(raw, "category", str, where)
    custom = raw.get("customization_options")
    options: dict[str, list[str]] = {}
    if custom is not None:
        if not isinstance(custom, dict):
            raise CatalogError(f"{where}: field 'customization_options' must be an object or null.")
        for opt_name, contents in custom.items():
            if contents is None:
                continue
            if not isinstance(contents, list) or not all(isinstance(c, dict) and isinstance(c.get("value"), str) for c in contents):
                raise CatalogError(
                    f"{where}: customization_options['{opt_name}'] must be a list of {{'value': str, 'image': ...}}."
                )
            options[opt_name.lower()] = [c["value"].strip().replace("/", " | ").lower() for c in contents]
    pricing, price_tag = parse_pricing(raw.get("pricing"), where)
    attrs = attributes.get(asin, {}).get("attributes") if isinstance(attributes.get(asin), dict) else None
    return Product(
        asin=asin,
        name=name,
        description=description,
        bullets=small if isinstance(small, list) else [small],
        options=options,
        attributes=list(attrs) if attrs else ["DUMMY_ATTR"],
        category=category,
        query=query.lower().strip(),
        product_category=product_category,
        pricing=pricing,
        price_tag=price_tag,
    )


def _instructions(raw: Any, path: Path) -> dict[str, list[Instruction]]:
    if not isinstance(raw, dict):
        raise CatalogError(f"{path}: must be a JSON object mapping asin -> list of instructions.")
    out: dict[str, list[Instruction]] = {}
    for asin, entries in raw.items():
        if not isinstance(entries, list):
            raise CatalogError(f"{path.name}['{asin}']: must be a list of instruction objects.")
        items = []
        for j, e in enumerate(entries):
            where = f"{path.name}['{asin}'][{j}]"
            if not isinstance(e, dict):
                raise CatalogError(f"{where}: must be an object.")
            text = _require(e, "instruction", str, where)
            attrs = _require(e, "instruction_attributes", list, where)
            opts = e.get("instruction_options") or []
            if not isinstance(opts, list):
                raise CatalogError(f"{where}: field 'instruction_options' must be a list.")
            items.append(Instruction(asin, text, tuple(attrs), tuple(str(o) for o in opts)))
        out[asin] = items
    return out


def load_catalog(folder: str | Path) -> Catalog:
    """Read and validate a WebShop-format catalog folder (errors name the file and field)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise CatalogError(f"catalog folder {folder} does not exist. Point --data at a WebShop data folder or omit it.")
    products_path = _find(folder, "items_shuffle*.json", "items_shuffle.json")
    attrs_path = _find(folder, "items_ins_v2*.json", "items_ins_v2.json")
    human_path = _find(folder, "items_human_ins*.json", "items_human_ins.json")
    raw_products = _load_json(products_path)
    if not isinstance(raw_products, list):
        raise CatalogError(f"{products_path}: must be a JSON list of products.")
    attributes = _load_json(attrs_path)
    if not isinstance(attributes, dict):
        raise CatalogError(f"{attrs_path}: must be a JSON object mapping asin -> {{'attributes': [...]}}.")
    instructions = _instructions(_load_json(human_path), human_path)
    products: list[Product] = []
    by_asin: dict[str, Product] = {}
    for i, raw in enumerate(raw_products):
        p = _product(raw, i, products_path, attributes)
        if p is None or p.asin in by_asin:
            continue
        products.append(p)
        by_asin[p.asin] = p
    if not products:
        raise CatalogError(f"{products_path}: holds no usable product.")
    source = {"products": str(products_path), "attributes": str(attrs_path), "human_instructions": str(human_path)}
    return Catalog(products, by_asin, instructions, source)
