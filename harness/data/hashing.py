"""Content hashes: one per row (its ``id``), one per split, one per dataset, one per file.

- row: :func:`harness.data.rows.compute_row_id` (16 hex digits, as :func:`harness.types.content_hash`);
- split: sha256 over the canonical JSON of every row, in order (so any changed, added, removed or
  reordered row changes it; re-encoding the parquet file does not);
- dataset: sha256 over the sorted ``config/split=hash`` lines of all its splits;
- file: the sha256 of the file's bytes, to tell transport damage from content changes.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from harness.data.errors import HashMismatchError
from harness.data.rows import compute_row_id


def canonical_json(row: Mapping[str, Any]) -> str:
    """The canonical JSON text of a row: sorted keys, no whitespace, UTF-8 kept."""
    return json.dumps(row, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)


def split_hash(rows: Iterable[Mapping[str, Any]]) -> str:
    """sha256 hex digest of the rows' canonical JSON lines, in order."""
    h = hashlib.sha256()
    for row in rows:
        h.update(canonical_json(row).encode("utf-8"))
        h.update(b"\n")
    return h.hexdigest()


def dataset_hash(split_hashes: Mapping[str, str]) -> str:
    """sha256 over ``"<config>/<split>=<hash>"`` lines sorted by name: the hash of a whole dataset."""
    text = "".join(f"{name}={split_hashes[name]}\n" for name in sorted(split_hashes))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def file_sha256(path: Path) -> str:
    """sha256 hex digest of a file's bytes."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def verify_row_ids(config: str, rows: Iterable[Mapping[str, Any]], where: str) -> None:
    """Raise :class:`HashMismatchError` at the first row whose ``id`` is not its content hash."""
    for i, row in enumerate(rows):
        expected = compute_row_id(config, dict(row))
        if row.get("id") != expected:
            task = f" (task {row['task_id']})" if row.get("task_id") is not None else ""
            raise HashMismatchError(
                f"row {i}{task} of {where} has id '{row.get('id')}' but its content hashes to '{expected}': "
                "the row was changed after it was written. Re-download the dataset, or rebuild the split."
            )


def verify_split_hash(rows: list[Mapping[str, Any]], expected: str, where: str) -> None:
    """Raise :class:`HashMismatchError` when the rows' split hash is not ``expected``."""
    actual = split_hash(rows)
    if actual != expected:
        raise HashMismatchError(
            f"{where} has content hash {actual[:16]}… but its manifest records {expected[:16]}…: "
            "rows were added, removed, reordered or edited after the manifest was written. "
            "Re-download it, or rebuild the split so the manifest is rewritten."
        )
