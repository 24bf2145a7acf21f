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

Loading scales to millions of products: the product file is decoded one product at a time
(``json_stream.py``) and each is turned into a :class:`Product` at once, so neither the file's
text nor all the raw dicts are ever in memory together; repeated strings (option values,
attributes, categories, prices) are shared; and the cyclic garbage collector is paused while the
catalog is built, then told to leave it alone (see :func:`gc_paused`).
"""

from __future__ import annotations

import gc
import json
import re
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from harness.envs.webshop.json_stream import NotAJsonList, iter_json_list


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


@contextmanager
def gc_paused(freeze: bool = False) -> Iterator[None]:
    """Pause Python's cyclic garbage collector inside the block (also usable as a decorator).

    While millions of dicts and lists are created, allocations keep triggering collections that
    walk everything built so far (decoding a 1M-product file takes twice as long with it on).
    Catalog objects hold no reference cycles, so pausing it changes only the time.

    ``freeze=True`` ends the block with ``gc.freeze()``: every object alive then moves to the
    collector's permanent generation. A loaded catalog lives as long as the process in practice,
    and at 1M products (6.5M tracked objects) each later full collection would walk all of it for
    about 5 s, three of them soon after loading. Frozen objects are still freed by reference
    counting when dropped; only a reference cycle that is already garbage at that moment is kept.
    """
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if was_enabled:
            gc.enable()


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
    prices, tag = _parse_price_text(text, where)
    return list(prices), tag


def _parse_price_text(text: str, where: str) -> tuple[tuple[float, ...], str]:
    try:
        prices = [float(Decimal(re.sub(r"[^\d.]", "", part))) for part in text.split("$")[1:]]
    except InvalidOperation:
        raise CatalogError(f"{where}: field 'pricing' has an unreadable price: {text!r}.") from None
    if not prices:
        raise CatalogError(f"{where}: field 'pricing' has no '$' amount: {text!r}.")
    if len(prices) == 1:
        return (prices[0],), f"${prices[0]}"
    return (prices[0], prices[1]), f"${prices[0]} to ${prices[1]}"


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


class _Shared:
    """One copy of each repeated string or price of a catalog (a 1M-product catalog repeats them millions of times)."""

    def __init__(self) -> None:
        self.strings: dict[str, str] = {}
        self.options: dict[str, str] = {}
        self.prices: dict[str, tuple[tuple[float, ...], str]] = {}

    def string(self, text: str) -> str:
        return self.strings.setdefault(text, text)

    def option(self, value: str) -> str:
        """``value`` normalised as the original loader does (stripped, lower-cased, ``/`` shown as `` | ``)."""
        out = self.options.get(value)
        if out is None:
            out = self.options[value] = self.string(value.strip().replace("/", " | ").lower())
        return out

    def pricing(self, text: str) -> tuple[tuple[float, ...], str] | None:
        """Parsed price string, or None when it needs the validating path."""
        out = self.prices.get(text)
        if out is None:
            try:
                out = self.prices[text] = _parse_price_text(text, "")
            except CatalogError:
                return None
        return out


_NEEDS_CHECK = object()  # the fast path saw something unusual: use the validating path


def _product_fast(raw: Any, attributes: dict[str, Any], shared: _Shared) -> Product | None | object:
    """:func:`_product` for well-formed entries, with shared strings; ``_NEEDS_CHECK`` otherwise.

    Accepts only what ``_product`` accepts and builds an equal Product; anything else (missing or
    mistyped fields, odd options or prices) goes to ``_product``, which names the problem.
    """
    if type(raw) is not dict:
        return _NEEDS_CHECK
    asin = raw.get("asin")
    if type(asin) is not str:
        return _NEEDS_CHECK
    if asin == "nan" or len(asin) > 10:
        return None
    get = raw.get
    name, description, small = get("name"), get("full_description"), get("small_description")
    images, product_category, query, category = get("images"), get("product_category"), get("query"), get("category")
    if not (
        type(name) is str
        and type(description) is str
        and type(small) in (list, str)
        and type(images) is list
        and images
        and type(product_category) is str
        and type(query) is str
        and type(category) is str
    ):
        return _NEEDS_CHECK
    custom = get("customization_options")
    options: dict[str, list[str]] = {}
    if custom is not None:
        if type(custom) is not dict:
            return _NEEDS_CHECK
        for opt_name, contents in custom.items():
            if contents is None:
                continue
            if type(contents) is not list:
                return _NEEDS_CHECK
            values = []
            for c in contents:
                value = c.get("value") if type(c) is dict else None
                if type(value) is not str:
                    return _NEEDS_CHECK
                values.append(shared.option(value))
            options[shared.string(opt_name.lower())] = values
    pricing_text = get("pricing")
    if pricing_text is None or pricing_text == "" or pricing_text == []:
        pricing, price_tag = [100.0], "$100.0"
    elif type(pricing_text) is str and (parsed := shared.pricing(pricing_text)) is not None:
        pricing, price_tag = list(parsed[0]), parsed[1]
    else:
        return _NEEDS_CHECK
    entry = attributes.get(asin)
    attrs = entry.get("attributes") if type(entry) is dict else None
    return Product(
        asin=asin,
        name=name,
        description=description,
        bullets=small if type(small) is list else [small],
        options=options,
        attributes=[shared.string(a) if type(a) is str else a for a in attrs] if attrs else ["DUMMY_ATTR"],
        category=shared.string(category),
        query=shared.string(query.lower().strip()),
        product_category=shared.string(product_category),
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


@gc_paused(freeze=True)
def load_catalog(folder: str | Path) -> Catalog:
    """Read and validate a WebShop-format catalog folder (errors name the file and field).

    When several things are wrong, the error reported is the one a whole-file read would meet
    first: product file JSON, then the attribute file, the instruction file, the product entries.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise CatalogError(f"catalog folder {folder} does not exist. Point --data at a WebShop data folder or omit it.")
    products_path = _find(folder, "items_shuffle*.json", "items_shuffle.json")
    attrs_path = _find(folder, "items_ins_v2*.json", "items_ins_v2.json")
    human_path = _find(folder, "items_human_ins*.json", "items_human_ins.json")
    # Attributes are needed to build products; their errors are raised after the product file's
    # JSON has been checked, as the original reading order would.
    attrs_error: CatalogError | None = None
    try:
        attributes = _load_json(attrs_path)
        if not isinstance(attributes, dict):
            attrs_error = CatalogError(f"{attrs_path}: must be a JSON object mapping asin -> {{'attributes': [...]}}.")
    except CatalogError as e:
        attrs_error = e
    if attrs_error is not None:
        attributes = {}
    products, by_asin, product_error = _read_products(products_path, attributes, check_only=attrs_error is not None)
    if attrs_error is not None:
        raise attrs_error
    instructions = _instructions(_load_json(human_path), human_path)
    if product_error is not None:
        raise product_error
    if not products:
        raise CatalogError(f"{products_path}: holds no usable product.")
    source = {"products": str(products_path), "attributes": str(attrs_path), "human_instructions": str(human_path)}
    return Catalog(products, by_asin, instructions, source)


def _read_products(
    path: Path, attributes: dict[str, Any], check_only: bool
) -> tuple[list[Product], dict[str, Product], CatalogError | None]:
    """Products of ``path`` in file order, first duplicate asin kept; plus the first entry's error, if any.

    The file's JSON errors are raised at once; an entry's error is returned (and the rest of the
    file still checked as JSON) so that the caller can report errors in the original order.
    """
    try:
        with open(path, "rb") as f:
            return _build_products(iter_json_list(f), path, attributes, check_only)
    except NotAJsonList:
        pass
    # Not a well-formed list: decode it whole, as the original does, for its exact error.
    raw_products = _load_json(path)
    if not isinstance(raw_products, list):
        raise CatalogError(f"{path}: must be a JSON list of products.")
    return _build_products(raw_products, path, attributes, check_only)  # only if the two decoders disagree


def _build_products(
    raw_products: Iterable[Any], path: Path, attributes: dict[str, Any], check_only: bool
) -> tuple[list[Product], dict[str, Product], CatalogError | None]:
    products: list[Product] = []
    by_asin: dict[str, Product] = {}
    error: CatalogError | None = None
    shared = _Shared()
    for i, raw in enumerate(raw_products):
        if check_only or error is not None:
            continue  # still read the rest: a JSON error later in the file is reported first
        p = _product_fast(raw, attributes, shared)
        if p is _NEEDS_CHECK:
            try:
                p = _product(raw, i, path, attributes)
            except CatalogError as e:
                error = e
                continue
        if p is None or p.asin in by_asin:
            continue
        products.append(p)
        by_asin[p.asin] = p
    return products, by_asin, error
