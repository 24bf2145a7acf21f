"""Sealed entries: a stored entry is checked whole before the board shows it.

The entry id hashes what was evaluated (key, result, trajectory ids) and names the file, so it
cannot change without renaming every score. The *seal* is a sha256 over every other field as
well (method, labels, source, submission time, the verification record), so renaming a method or
editing any field without resealing is caught. A seal is not a signature: whoever can write the
folder can recompute it, which is why :func:`check_stored_entry` also re-derives everything that
follows from the content (the key from the result, the per-task rewards and metrics from the
trajectories, the verification counts, the file's place) and ``harness leaderboard --verify``
replays every trajectory. What is left to a forger with write access, a new name on the same
episodes, is caught as a stored duplicate (:meth:`LocalLeaderboard.scan
<harness.leaderboard.store.LocalLeaderboard.scan>`), and the folder's git history shows the edit.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path
from typing import Any

from harness.leaderboard.entry import (
    SCHEMA_VERSION,
    ComparabilityKey,
    entry_id,
    validate_entry,
)
from harness.leaderboard.replay import check_metrics, close
from harness.leaderboard.untrusted_input import (
    MAX_ENTRY_BYTES,
    UntrustedInputError,
    read_json_file,
)
from harness.leaderboard.untrusted_rows import (
    MAX_METHOD_CHARS,
    check_recipe,
    check_result,
    check_trajectory_row,
    label_problem,
)
from harness.types import Trajectory, content_hash

RESTORE = "Entries are immutable; restore the file from version control or submit a new entry."


def entry_seal(entry: dict[str, Any]) -> str:
    """sha256 (64 hex digits) of the canonical JSON of every field of ``entry`` but ``seal``."""
    return content_hash({k: v for k, v in entry.items() if k != "seal"}, length=64)


def seal(entry: dict[str, Any]) -> dict[str, Any]:
    """``entry`` with its seal (the last field)."""
    return {
        **{k: v for k, v in entry.items() if k != "seal"},
        "seal": entry_seal(entry),
    }


def episodes_hash(trajectory_ids: list[str]) -> str:
    """What makes two entries the same episodes: the hash of their sorted trajectory content hashes
    (which cover every reply, action, observation and reward, never the policy label or method)."""
    return content_hash(sorted(trajectory_ids))


def read_stored_entry(path: Path) -> dict[str, Any]:
    """The entry stored at ``path``, read as untrusted input and checked whole; raise ``ValueError``."""
    try:
        entry = read_json_file(path, MAX_ENTRY_BYTES)
    except UntrustedInputError as e:
        raise ValueError(f"{e}. {RESTORE}") from None
    check_stored_entry(entry, path)
    return entry


def check_stored_entry(entry: Any, path: Path) -> None:
    """Raise ``ValueError`` when a stored entry breaks the schema, its seal or anything derived from
    its content (everything but the replay, which ``harness leaderboard --verify`` adds)."""
    if not isinstance(entry, dict):
        raise ValueError(f"{path} does not hold an entry object. {RESTORE}")  # noqa: TRY004 - every bad stored file is a ValueError to callers
    if entry.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"{path} has entry format {str(entry.get('schema_version'))!r:.20}, not {SCHEMA_VERSION!r} "
                         f"(format 1 entries carry no seal). {RESTORE}")  # fmt: skip
    validate_entry(entry, str(path))
    if entry["seal"] != entry_seal(entry):
        raise ValueError(
            f"{path} was edited after it was accepted: its content no longer matches its seal. {RESTORE}"
        )
    problems = check_result(entry["result"]) + check_recipe(
        entry["submission"]["recipe"] or {}
    )
    if p := label_problem(entry["method"], MAX_METHOD_CHARS):
        problems.append(f"method {p}")
    for i, t in enumerate(entry["trajectories"], 1):
        problems += check_trajectory_row(t, f"trajectory {i}")
    if problems:
        raise ValueError(
            f"{path} holds values no submission could have: {'; '.join(problems[:5])}. {RESTORE}"
        )
    try:
        trajs = [Trajectory.from_dict(t) for t in entry["trajectories"]]
    except ValueError as e:  # a trajectory no longer matches its content hash
        raise ValueError(f"{path}: {e}. {RESTORE}") from None
    key = ComparabilityKey(**entry["key"])
    declared = ComparabilityKey.from_result(entry["result"])
    if key.hash != declared.hash:
        raise ValueError(
            f"{path} is filed under key {key.hash}, but its result declares key {declared.hash}. {RESTORE}"
        )
    ids = [t.id for t in trajs]
    expected = entry_id(key, entry["result"], ids)
    if (
        entry["entry_id"] != expected
        or path.stem != expected
        or entry["key_hash"] != key.hash
        or path.parent.name != key.hash
    ):
        raise ValueError(
            f"{path} was edited after it was accepted: its content hashes to entry {expected} under key {key.hash}. {RESTORE}"
        )
    _check_derived(entry, trajs, path)


def _check_derived(entry: dict[str, Any], trajs: list[Trajectory], path: Path) -> None:
    """Per-task rewards, metrics, episode hash and verification counts follow from the trajectories."""
    result, submission = entry["result"], entry["submission"]
    problems = []
    if submission["trajectories_hash"] != episodes_hash([t.id for t in trajs]):
        problems.append("its trajectories_hash is not the hash of its trajectories")
    by_task = defaultdict(list)
    for t in trajs:
        by_task[t.task_id].append(t.final_reward)
    per_task = result["per_task"]
    if set(by_task) != set(per_task) or any(
        len(v) != 1 or not close(per_task[k], v[0]) for k, v in by_task.items()
    ):
        problems.append(
            "its per-task rewards are not its trajectories' final rewards (one per task)"
        )
    if len(trajs) != entry["key"]["n_tasks"] or any(
        (t.env_id, t.env_version)
        != (entry["key"]["env_id"], entry["key"]["env_version"])
        for t in trajs
    ):
        problems.append(
            "its trajectories do not cover its key's eval set in its environment"
        )
    problems += check_metrics(result["metrics"], trajs)
    v = submission["verification"]
    if (v["episodes"], v["steps"], v["env_version"]) != (
        len(trajs),
        sum(len(t.steps) for t in trajs),
        entry["key"]["env_version"],
    ):
        problems.append("its verification record does not describe its trajectories")
    if problems:
        raise ValueError(
            f"{path} is inconsistent: {'; '.join(problems[:5])}. {RESTORE}"
        )
