"""BM25 product search over a tantivy index, built once per catalog and cached on disk.

Why tantivy: it is a real inverted-index engine (the Rust counterpart of the Lucene index the
original WebShop queries through pyserini), it builds a 100k-product index in about a second on two
cores, answers in under a millisecond, and persists the index so it is built once per catalog. bm25s
is comparable at query time but slower to build and keeps everything in memory; rank-bm25 is ~100x
slower per query; pyserini needs Java 21 and 2 GB.

Indexed text per product follows the original indexer: title, full description, first bullet point
and the option names/values, lower-cased; English stemming. Hits are ordered by BM25 score, ties by
catalog position (Lucene's doc-id order), so results are identical on every machine.
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
import tempfile
from pathlib import Path

from harness.envs.webshop.catalog import Catalog, Product
from harness.locations import cache_root

# What results a search gives (analyzer, indexed text, ranking). It is hashed into the catalog
# fingerprint, hence into the environment version: bump it only when results can change.
SEARCH_VERSION = "tantivy-en_stem-v1"
# On-disk layout of the index (part of the cache path only; results are the same across layouts).
# v2: the catalog position is a fast field instead of a stored one.
INDEX_FORMAT = "v2"
SEARCH_RETURN_N = 50  # results the original returns per search
_NON_WORD = re.compile(r"[^0-9a-z]+")


def product_document(p: Product) -> str:
    """The text indexed for one product (title, description, first bullet, options)."""
    option_text = ", and ".join(f"{name}: {', '.join(values)}" for name, values in p.options.items())
    first_bullet = p.bullets[0] if p.bullets else ""
    return " ".join([p.name, p.description, first_bullet, option_text]).lower()


def catalog_fingerprint(catalog: Catalog) -> str:
    """Hash of the product file's bytes (the index's content) plus the search version."""
    h = hashlib.sha256(SEARCH_VERSION.encode())
    with open(catalog.source["products"], "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()[:20]


def _schema():
    import tantivy

    builder = tantivy.SchemaBuilder()
    builder.add_text_field("contents", stored=False, tokenizer_name="en_stem", index_option="freq")
    # Catalog position as a fast (columnar) field: read for a whole hit list in one call, where a
    # stored field costs a document-store read per hit (about a quarter of the query time at 1M products).
    builder.add_integer_field("idx", stored=False, indexed=False, fast=True)
    return builder.build()


def build_index(catalog: Catalog, path: Path) -> None:
    """Write a fresh index of ``catalog`` to ``path`` atomically (built in a temp dir, then renamed)."""
    import tantivy

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=path.name + ".tmp-", dir=path.parent))
    try:
        index = tantivy.Index(_schema(), path=str(tmp))
        # One thread: deterministic segment layout and doc ids, whatever the machine.
        writer = index.writer(heap_size=512_000_000, num_threads=1)
        for i, p in enumerate(catalog.products):
            writer.add_document(tantivy.Document(contents=product_document(p), idx=i))
        writer.commit()
        writer.wait_merging_threads()
        os.replace(tmp, path)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


class ProductSearch:
    """BM25 search returning catalog products, best first (ties by catalog order)."""

    def __init__(self, catalog: Catalog, cache_dir: Path | None = None):
        import tantivy

        self.catalog = catalog
        self.fingerprint = catalog_fingerprint(catalog)
        self.path = (cache_dir or cache_root()) / "webshop-index" / f"{self.fingerprint}-{INDEX_FORMAT}"
        self.built = False
        if not (self.path / "meta.json").exists():
            build_index(catalog, self.path)
            self.built = True
        self.index = tantivy.Index.open(str(self.path))
        self.index.reload()
        self.searcher = self.index.searcher()

    def search(self, keywords: str, k: int = SEARCH_RETURN_N) -> list[Product]:
        """Top ``k`` products for free-text ``keywords`` (any characters; empty text finds nothing)."""
        text = _NON_WORD.sub(" ", keywords.lower()).strip()
        if not text:
            return []
        query = self.index.parse_query(text, ["contents"])
        # Ask for a few more than k so ties at the cut-off are resolved by catalog order, not segment order.
        hits = self.searcher.search(query, k + 10).hits
        positions = self.searcher.fast_field_values("idx", [addr for _, addr in hits])
        ranked = sorted((-score, i) for (score, _), i in zip(hits, positions, strict=True))
        return [self.catalog.products[i] for _, i in ranked[:k]]
