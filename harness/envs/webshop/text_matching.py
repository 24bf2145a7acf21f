"""Text matching used by the WebShop reward: fuzzy token-set ratio, colour normalisation, nouns.

Each piece reproduces the behaviour the original reward depends on, because scores are only
comparable when these agree:

- the fuzzy ratio (:func:`resolve_text_matching`): the original calls ``thefuzz.fuzz.token_set_ratio``
  of ``thefuzz==0.19.0``, as WebShop's requirements pin it, without python-Levenshtein. Two versions:

  - ``thefuzz-0.19`` (:func:`original_ratio`): what that pin computes. Characters U+0080..U+00FF are
    deleted, every other non-word character (regex ``\\W``, Unicode; ``_`` is a word character) becomes a
    space, then lower-case and strip; the tokens are split on whitespace into sets, and the ratio is
    the best of difflib's ``SequenceMatcher(None, x, y).ratio()`` (x100, rounded half to even) over
    (intersection, intersection + rest of a), (intersection, intersection + rest of b) and the two
    combined strings; identical strings score 100, an empty one 0.
  - ``rapidfuzz-v1`` (:func:`fuzzy_ratio`): every character above U+007F deleted, ``_`` a separator,
    rapidfuzz's Indel ratio. It differs from the original on text outside ASCII (``women’s`` becomes
    ``womens``, not ``women s``), on ``_``, and by about 1 point on some pairs (difflib's matching
    blocks vs the Indel distance). On the generated catalog the two make the same > 85 decision on
    every (attribute, goal attribute) and (option, goal option) pair it holds (tests/test_webshop_text_matching.py),
    so the rewards there are the original's; it is the default for that catalog and the version of
    every result recorded before the option existed.

  ``auto`` picks ``thefuzz-0.19`` for a catalog given with ``--data`` and ``rapidfuzz-v1`` for the
  generated one; any other choice than ``rapidfuzz-v1`` is part of the environment version.
- ``normalize_color``: the first colour word (in alphabetical order of the colour vocabulary the
  original uses) that occurs in the string, else the string itself.
- Noun extraction for the type reward: spaCy when a model is installed (the original uses
  ``en_core_web_sm``; IPR/ETO used ``en_core_web_lg``), otherwise a deterministic lexicon heuristic.
  The extractor's name is part of the environment version, so scores from different extractors are
  never compared.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Callable
from functools import lru_cache

from rapidfuzz import fuzz
from rapidfuzz import utils as fuzz_utils

# The colour vocabulary the original normaliser scans, in its (alphabetical) order; reproduced
# because option rewards on real WebShop data depend on which word wins.
COLOR_WORDS: tuple[str, ...] = (
    "alabaster", "apricot", "aqua", "ash", "asphalt", "azure", "banana", "beige", "black", "blue",
    "blush", "bordeaux", "bronze", "brown", "burgundy", "camel", "camo", "caramel", "champagne",
    "charcoal", "cheetah", "chestnut", "chocolate", "christmas", "coffee", "cognac", "copper", "coral",
    "cranberry", "cream", "crystal", "dark", "denim", "eggplant", "elephant", "espresso", "fuchsia",
    "gold", "granite", "grape", "graphite", "grass", "gray", "green", "grey", "heather", "indigo",
    "ivory", "ivy", "khaki", "lavender", "lemon", "leopard", "light", "lilac", "lime", "magenta",
    "maroon", "mauve", "merlot", "midnight", "mint", "mocha", "multicolor", "mushroom", "mustard",
    "natural", "navy", "nude", "olive", "orange", "peach", "pewter", "pink", "plum", "purple",
    "rainbow", "red", "rose", "royal", "rust", "sand", "sapphire", "seashell", "silver", "skull",
    "slate", "steel", "stone", "stonewash", "sunflower", "tan", "taupe", "teal", "tiger", "turquoise",
    "violet", "walnut", "wheat", "white", "wine", "yellow",
)  # fmt: skip


def normalize_color(text: str) -> str:
    """Return the first colour word contained in ``text`` (vocabulary order), else ``text``."""
    for color in COLOR_WORDS:
        if color in text:
            return color
    return text


_NON_ASCII = re.compile(r"[^\x00-\x7f]")


@lru_cache(maxsize=1 << 16)
def _fuzzy_prepare(text: str) -> str:
    return fuzz_utils.default_process(_NON_ASCII.sub("", text))


def fuzzy_ratio(a: str, b: str) -> int:
    """``rapidfuzz-v1``: token-set ratio in 0..100 (non-ASCII deleted, normalised, rapidfuzz, rounded)."""
    pa, pb = _fuzzy_prepare(a), _fuzzy_prepare(b)
    if not pa or not pb:
        return 0
    return int(round(fuzz.token_set_ratio(pa, pb)))


_LATIN1_HIGH = dict.fromkeys(range(0x80, 0x100))
_NON_WORD = re.compile(r"\W")


def _original_prepare(text: str) -> str:
    return _NON_WORD.sub(" ", text.translate(_LATIN1_HIGH)).lower().strip()


def _sequence_ratio(a: str, b: str) -> int:
    if a == b:
        return 100
    if not a or not b:
        return 0
    return int(round(100 * difflib.SequenceMatcher(None, a, b).ratio()))


@lru_cache(maxsize=1 << 17)
def original_ratio(a: str, b: str) -> int:
    """``thefuzz-0.19``: the token-set ratio as the original reward's pinned thefuzz computes it
    (formula in the module docstring)."""
    pa, pb = _original_prepare(a), _original_prepare(b)
    if not pa or not pb:
        return 0
    ta, tb = set(pa.split()), set(pb.split())
    both = " ".join(sorted(ta & tb))
    with_a = f"{both} {' '.join(sorted(ta - tb))}".strip()
    with_b = f"{both} {' '.join(sorted(tb - ta))}".strip()
    return max(_sequence_ratio(both, with_a), _sequence_ratio(both, with_b), _sequence_ratio(with_a, with_b))


Ratio = Callable[[str, str], int]
TEXT_MATCHING: dict[str, Ratio] = {"thefuzz-0.19": original_ratio, "rapidfuzz-v1": fuzzy_ratio}
LEGACY_TEXT_MATCHING = "rapidfuzz-v1"
"""The matching of every environment version without a ``text-`` part."""


def resolve_text_matching(spec: str, generated_catalog: bool) -> tuple[str, Ratio]:
    """Turn ``auto`` | ``thefuzz-0.19`` | ``rapidfuzz-v1`` into (name, ratio function); ``auto`` is the
    original's for ``--data`` catalogs and ``rapidfuzz-v1`` for the generated one (module docstring)."""
    if spec == "auto":
        spec = LEGACY_TEXT_MATCHING if generated_catalog else "thefuzz-0.19"
    if spec not in TEXT_MATCHING:
        raise ValueError(f"unknown text matching '{spec}'; use auto, {', '.join(TEXT_MATCHING)} (thefuzz-0.19 is the original's)")
    return spec, TEXT_MATCHING[spec]


# --- nouns ------------------------------------------------------------------------------------

# Closed-class words and frequent product-title adjectives/participles that spaCy would not tag as
# nouns. The heuristic keeps every other alphabetic token: product names are noun-heavy, so this
# errs towards more nouns, never fewer.
_NOT_NOUNS = frozenset(
    """a an the and or but nor so yet for of in on at to from by with without into onto over under
    about above below between through during before after up down off out per via than as
    i me my we our you your he she it its they them their this that these those who whom which what
    is are was were be been being am do does did has have had can could will would shall should may
    might must not no yes all any each every some such both either neither other another more most
    less least many much few very too also just only quite really new old best better good great top
    premium deluxe classic modern vintage original genuine natural organic pure fresh soft hard
    heavy light lightweight durable portable adjustable waterproof washable reusable disposable
    rechargeable wireless cordless electric manual automatic large small medium mini big little long
    short tall wide narrow thick thin slim extra super ultra high low full half double single multi
    free easy quick fast slow strong gentle comfortable cute beautiful elegant stylish fashionable
    casual formal everyday daily compact professional perfect ideal universal unisex
    black white red blue green yellow pink purple orange brown grey gray silver gold beige navy
    clear dark bright""".split()
)
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'\-]*")


@lru_cache(maxsize=1 << 17)
def heuristic_nouns(text: str) -> tuple[str, ...]:
    """Deterministic fallback noun extractor: lower-cased alphabetic tokens minus a stop lexicon."""
    out = []
    for tok in _TOKEN.findall(text):
        t = tok.lower().strip("'-")
        if len(t) >= 2 and t not in _NOT_NOUNS and not t.endswith("ly"):
            out.append(t)
    return tuple(out)


NounExtractor = Callable[[str], tuple[str, ...]]


def _spacy_extractor(model: str) -> NounExtractor:
    try:
        import spacy
    except ImportError:
        raise ValueError(f"nouns='spacy:{model}' needs spaCy: pip install spacy and the {model} model.") from None
    try:
        nlp = spacy.load(model)
    except OSError:
        raise ValueError(f"spaCy model '{model}' is not installed; install it or use nouns='heuristic'.") from None

    @lru_cache(maxsize=1 << 17)
    def extract(text: str) -> tuple[str, ...]:
        # Same tag set the original keeps ('PNOUN' is not a spaCy tag but is harmless).
        return tuple(t.text.lower() for t in nlp(text) if t.pos_ in ("PNOUN", "NOUN", "PROPN"))

    return extract


def _installed_spacy_model() -> str | None:
    try:
        import importlib.util

        if importlib.util.find_spec("spacy") is None:
            return None
        for model in ("en_core_web_sm", "en_core_web_lg"):
            if importlib.util.find_spec(model) is not None:
                return model
    except (ImportError, ValueError):
        return None
    return None


def resolve_noun_extractor(spec: str = "auto") -> tuple[str, NounExtractor]:
    """Turn ``auto`` | ``heuristic`` | ``spacy:MODEL`` into (resolved name, extractor).

    ``auto`` picks spaCy's ``en_core_web_sm`` (the original's choice) when it is installed, else
    the heuristic. The resolved name goes into the environment version.
    """
    if spec == "auto":
        model = _installed_spacy_model()
        spec = f"spacy:{model}" if model else "heuristic"
    if spec == "heuristic":
        return "heuristic-v1", heuristic_nouns
    if spec.startswith("spacy:"):
        model = spec.split(":", 1)[1]
        return f"spacy-{model}", _spacy_extractor(model)
    raise ValueError(f"unknown noun extractor '{spec}'; use auto, heuristic or spacy:MODEL (e.g. spacy:en_core_web_sm).")
