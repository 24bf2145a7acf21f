"""Records of checks made on stored entries after they were accepted: spot checks and expert matches.

Each record is one JSON file named by its entry, ``<kind-folder>/<entry-id>.json`` in the
leaderboard folder (``spot_checks/`` from :mod:`~harness.leaderboard.spot_check`, ``expert_match/``
from :mod:`~harness.leaderboard.expert_match`), written atomically (temp file, then rename) and
carrying a ``content_hash``: sha256 over the canonical JSON of every other field. As with an entry's
seal this is not a signature — whoever can write the folder can recompute it — but an edit without
recomputing it is caught by ``harness leaderboard --verify`` (:func:`verify_records`), and a record
also names the entry's seal, so a record never describes another version of its entry. A record
for an entry that is not on the board (removed, or an edited entry that no longer passes its checks)
is reported too. Everything is read as untrusted input.
"""

from __future__ import annotations

import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from harness.leaderboard.untrusted_input import MAX_SCORE_BYTES, UntrustedInputError, read_json_file
from harness.types import content_hash

RECORD_FORMAT = "1"
ENTRY_ID = re.compile(r"[0-9a-f]{16}")
"""The shape of an entry id (a 16-hex-digit content hash); anything else never names a file."""


def record_hash(record: dict[str, Any]) -> str:
    """sha256 (64 hex digits) of the canonical JSON of every field of ``record`` but ``content_hash``."""
    return content_hash({k: v for k, v in record.items() if k != "content_hash"}, length=64)


def record_path(root: Path, folder: str, entry_id: str) -> Path:
    """Where the record of ``entry_id`` in ``folder`` (``spot_checks`` or ``expert_match``) lives."""
    if not ENTRY_ID.fullmatch(entry_id):
        raise ValueError(f"'{entry_id[:40]}' is not an entry id (16 hex digits, as in leaderboard/entries/<key>/<entry-id>.json)")
    return Path(root) / folder / f"{entry_id}.json"


def write_record(root: Path, folder: str, record: dict[str, Any]) -> Path:
    """Add the content hash (last field) and write ``record`` atomically; return its path."""
    import json

    path = record_path(root, folder, record["entry_id"])
    record = {**{k: v for k, v in record.items() if k != "content_hash"}, "content_hash": record_hash(record)}
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(json.dumps(record, indent=2, ensure_ascii=False) + "\n")
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return path


def read_record(path: Path, entry: dict[str, Any] | None, check: Callable[[dict[str, Any]], list[str]]) -> dict[str, Any]:
    """The record at ``path``, checked whole: its content hash, its name, its entry (when given: same
    id and seal) and ``check`` (what its own kind derives from its content). Raises ``ValueError``."""
    try:
        record = read_json_file(path, MAX_SCORE_BYTES)
    except UntrustedInputError as e:
        raise ValueError(f"{e}; restore it from version control or run the check again") from None
    if not isinstance(record, dict) or record.get("format") != RECORD_FORMAT:
        raise ValueError(f"{path} does not hold a check record of format {RECORD_FORMAT}; restore it or run the check again")
    if record.get("content_hash") != record_hash(record):
        raise ValueError(f"{path} was edited after it was written: its content no longer matches its content_hash; "
                         "restore it from version control or run the check again")  # fmt: skip
    problems = []
    if record.get("entry_id") != path.stem:
        problems.append(f"it names entry {str(record.get('entry_id'))[:40]!r}, not {path.stem}")
    if entry is not None and (record.get("entry_id"), record.get("entry_seal")) != (entry["entry_id"], entry["seal"]):
        problems.append(f"it describes another version of entry {entry['entry_id']} (its seal differs)")
    if not problems:
        try:
            problems = check(record)
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            problems = [f"it is malformed ({type(e).__name__}: {str(e)[:80]})"]
    if problems:
        raise ValueError(f"{path} is inconsistent: {'; '.join(problems[:5])}; run the check again")
    return record


def verify_records(root: Path, entries: list[dict[str, Any]], log: Callable[[str], None] = print) -> list[str]:
    """Check every spot-check and expert-match record under ``root`` against the board's ``entries``;
    return a sentence for each record that was edited, is malformed, or names no entry on the board."""
    from harness.leaderboard.expert_match import EXPERT_MATCH_DIR, check_match_record
    from harness.leaderboard.spot_check import SPOT_CHECK_DIR, check_spot_record

    by_id = {e["entry_id"]: e for e in entries}
    failures = []
    for folder, check in ((SPOT_CHECK_DIR, check_spot_record), (EXPERT_MATCH_DIR, check_match_record)):
        base = Path(root) / folder
        for path in sorted(base.glob("*.json")) if base.is_dir() else []:
            entry = by_id.get(path.stem)
            if entry is None:
                failures.append(f"{path} is a record of entry {path.stem[:40]}, which is not on the board")
                continue
            try:
                read_record(path, entry, check)
                log(f"{folder} record of entry {path.stem}: intact")
            except ValueError as e:
                failures.append(str(e))
    return failures
