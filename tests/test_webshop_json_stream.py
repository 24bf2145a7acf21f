"""The chunked JSON list reader gives exactly what json.loads gives, wherever the chunks end."""

from __future__ import annotations

import io
import json
import random

import pytest

from harness.envs.webshop import json_stream
from harness.envs.webshop.catalog import load_catalog
from harness.envs.webshop.json_stream import NotAJsonList, iter_json_list


def _read(text: str) -> list | None:
    try:
        return list(iter_json_list(io.BytesIO(text.encode("utf-8"))))
    except NotAJsonList:
        return None


def _values(rng: random.Random, depth: int = 0):
    atoms = [0, -1, 1.5, 2.5e-10, 12345678901234567890, True, False, None, "", 'q"uo\\te', "x › y", "é\n"]
    r = rng.random()
    if depth > 2 or r < 0.4:
        return rng.choice(atoms)
    if r < 0.7:
        return [_values(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {rng.choice("abc") * rng.randint(1, 3): _values(rng, depth + 1) for _ in range(rng.randint(0, 3))}


@pytest.mark.parametrize("chunk", [1, 2, 3, 7, 64])
def test_items_match_json_loads_for_any_chunk_size(monkeypatch, chunk):
    monkeypatch.setattr(json_stream, "CHUNK_BYTES", chunk)
    monkeypatch.setattr(json_stream, "LOOKAHEAD_CHARS", max(1, chunk // 2))
    rng = random.Random(chunk)
    for _ in range(300):
        items = [_values(rng) for _ in range(rng.randint(0, 5))]
        text = json.dumps(items, ensure_ascii=rng.random() < 0.5, indent=rng.choice([None, 2]))
        assert _read(text) == json.loads(text)
    assert _read(" [ 1.5 , 2e3 ,\r\n -7 ] \n") == [1.5, 2000.0, -7]  # numbers split anywhere


@pytest.mark.parametrize("text", ["", "{}", '"a"', "[1,]", "[,1]", "[1 2]", "[1]x", "[1]]", "[[]", "\ufeff[1]", "[1.", "[tru"])
def test_anything_but_a_well_formed_list_is_refused(text):
    assert _read(text) is None  # the catalog loader then decodes the file whole for json's message


def test_catalog_is_the_same_whatever_the_chunk_size(small_catalog, monkeypatch):
    whole = load_catalog(small_catalog)
    monkeypatch.setattr(json_stream, "CHUNK_BYTES", 97)
    monkeypatch.setattr(json_stream, "LOOKAHEAD_CHARS", 13)
    chunked = load_catalog(small_catalog)
    assert chunked.products == whole.products
    assert chunked.instructions == whole.instructions
