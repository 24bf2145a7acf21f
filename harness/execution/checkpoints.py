"""Checkpointed work: atomic JSON writes and the chunked map every long stage resumes with.

A long stage processes its items in fixed, ordered chunks and writes each chunk atomically
(``chunk-NNNNN.jsonl``), so a killed run resumes at the first missing chunk and, because chunk
boundaries do not depend on where it stopped, ends with the same data as an uninterrupted run.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

T = TypeVar("T")


def write_json_atomic(path: Path, data: Any) -> None:
    """Write ``data`` as JSON to ``path`` via a temp file and rename (never half-written)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, ensure_ascii=False, default=str)
        f.write("\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_jsonl_atomic(path: Path, rows: Sequence[dict[str, Any]]) -> None:
    """Write ``rows`` as JSON lines to ``path`` atomically."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        for r in rows:
            f.write(json.dumps(r, ensure_ascii=False, default=str) + "\n")
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    """All rows of a JSON-lines file."""
    with open(path, encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def run_chunked(
    folder: Path, items: Sequence[T], chunk_size: int, fn: Callable[[Sequence[T]], list[dict[str, Any]]],
    progress: Callable[[int], None] | None = None,
) -> list[dict[str, Any]]:  # fmt: skip
    """Process ``items`` in fixed chunks, writing ``chunk-NNNNN.jsonl`` per chunk; finished chunks are reused."""
    folder.mkdir(parents=True, exist_ok=True)
    rows: list[dict[str, Any]] = []
    for k, part in chunks_of(items, chunk_size):
        path = folder / f"chunk-{k:05d}.jsonl"
        if path.exists():
            chunk = read_jsonl(path)
        else:
            chunk = fn(part)
            write_jsonl_atomic(path, chunk)
        rows.extend(chunk)
        if progress:
            progress(len(part))
    return rows


def chunks_of(items: Sequence[T], chunk_size: int) -> list[tuple[int, Sequence[T]]]:
    """``(index, items)`` of each fixed chunk: boundaries depend only on ``chunk_size``."""
    if chunk_size < 1:
        raise ValueError(f"chunk size must be at least 1, got {chunk_size}")
    return [(k, items[start : start + chunk_size]) for k, start in enumerate(range(0, len(items), chunk_size))]
