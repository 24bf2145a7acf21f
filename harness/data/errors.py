"""Errors of the dataset layer, each written for a person: what was wrong, where, and what to do.

All derive from ``ValueError`` so the CLI prints them as ``harness: error: ...`` without a traceback.
"""

from __future__ import annotations

import difflib


class DataError(ValueError):
    """Base class of every dataset, registry and card error."""


class UnknownNameError(DataError):
    """A repo, config, split or revision that does not exist; the message lists what does."""


class SchemaError(DataError):
    """Rows or a parquet file whose columns or types do not match the config's ``datasets.Features``."""


class HashMismatchError(DataError):
    """Content that does not match the hash recorded for it (row id, split hash or file checksum)."""


class CorruptFileError(DataError):
    """A file that cannot be read at all (truncated or damaged parquet, unreadable manifest)."""


class PublishError(DataError):
    """A publish that was refused or failed; nothing was written to the registry."""


class CardError(DataError):
    """A dataset card that does not validate; ``problems`` lists every issue found."""

    def __init__(self, where: str, problems: list[str]):
        self.where = where
        self.problems = problems
        lines = "\n".join(f"  - {p}" for p in problems)
        super().__init__(f"dataset card {where} does not validate ({len(problems)} problem(s)):\n{lines}")


def unknown(kind: str, name: str, known: list[str], where: str, hint: str = "") -> UnknownNameError:
    """Build an :class:`UnknownNameError` for ``name`` of ``kind`` in ``where``, with close matches."""
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    maybe = f" Did you mean: {', '.join(close)}?" if close else ""
    listed = ", ".join(sorted(known)) if known else "none"
    tail = f" {hint}" if hint else ""
    return UnknownNameError(f"unknown {kind} '{name}' in {where}. Known: {listed}.{maybe}{tail}")
