"""The expert flag: how many of an entry's episodes are the scripted expert's, step for step.

Replay accepts any episodes the environment agrees with, including the privileged scripted expert's
(it reads the goal) relabelled as a model. :func:`expert_match` plays the expert on every task of
the entry in the pinned environment, with the entry's per-episode seeds, and counts the episodes
whose actions do what the expert's do: the same number of steps, each answered by the environment
with the same observation, reward and end. That is the action sequence as the environment reads it:
WebShop lower-cases ``click[B0Z1S9NWDO]``, so comparing the strings would let a copy dodge the flag by
changing case (and did miss the project's first expert entry, written when the expert clicked
lower-case ids). Thoughts are not compared: their wording varies with the seed. The result is cached as ``expert_match/<entry-id>.json`` under
the leaderboard (:mod:`~harness.leaderboard.check_records`: atomic, content-hashed, checked by
``--verify``); ``harness leaderboard --expert-match`` computes the missing ones.

An entry is *flagged* when at least :data:`FLAG_AT` of its episodes equal the expert's and its policy
is not the expert itself (an ``expert`` entry matches by construction). On WebShop the expert's
actions do not depend on the seed; a model trained to imitate it may match it on many easy tasks,
which is why the flag needs nearly all of them and the fraction is always shown.

Board API: :func:`expert_match_status` ``(root, entry) -> ExpertMatchStatus | None`` (the cached
result; ``.flagged``, ``.describe()``), never computing anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from harness.leaderboard.check_records import RECORD_FORMAT, read_record, record_path, write_record
from harness.leaderboard.escaping import terminal_text
from harness.types import Trajectory

EXPERT_MATCH_DIR = "expert_match"
FLAG_AT = 0.9
"""The fraction of episodes equal to the expert's at which a non-expert entry is flagged."""
EXPERT_SPECS = ("expert",)


@dataclass(frozen=True)
class ExpertMatchStatus:
    """The cached expert match of one entry (or why the cache cannot be trusted)."""

    matching: int = 0
    n: int = 0
    is_expert: bool = False
    problem: str | None = None

    @property
    def fraction(self) -> float:
        """Episodes whose actions equal the scripted expert's, as a fraction of the entry's episodes."""
        return self.matching / self.n if self.n else 0.0

    @property
    def flagged(self) -> bool:
        """A non-expert entry that is (nearly) the scripted expert's episodes."""
        return self.problem is None and not self.is_expert and self.n > 0 and self.fraction >= FLAG_AT

    def describe(self) -> str:
        """One line for a board cell."""
        if self.problem:
            return "expert-match record invalid"
        if self.is_expert:
            return f"the scripted expert ({self.matching}/{self.n} episodes its own)"
        if self.flagged:
            return f"flagged: {self.matching}/{self.n} episodes are the scripted expert's"
        return f"{self.matching}/{self.n} episodes equal the scripted expert's"


def expert_match_status(root: str | Path, entry: dict[str, Any]) -> ExpertMatchStatus | None:
    """The cached expert match of ``entry`` under the leaderboard ``root``; ``None`` when not computed."""
    path = record_path(Path(root), EXPERT_MATCH_DIR, entry["entry_id"])
    if not path.exists() and not path.is_symlink():
        return None
    try:
        r = read_record(path, entry, check_match_record)
    except ValueError as e:
        return ExpertMatchStatus(problem=str(e))
    return ExpertMatchStatus(r["matching"], r["n"], is_expert_entry(entry))


def is_expert_entry(entry: dict[str, Any]) -> bool:
    """Whether the entry says its policy is the scripted expert (it then matches by construction)."""
    return entry["result"]["policy"] in EXPERT_SPECS


def transitions(t: Trajectory) -> list[tuple[str, float, bool]]:
    """What the environment answered to each action of ``t`` (observation, reward, end)."""
    return [(s.observation, s.reward, s.done) for s in t.steps]


def check_match_record(record: dict[str, Any]) -> list[str]:
    """What an expert-match record derives from its own content."""
    problems = []
    if record.get("kind") != "expert_match":
        problems.append("it is not an expert-match record")
    if record["matching"] != len(record["matching_task_ids"]) or not 0 <= record["matching"] <= record["n"]:
        problems.append("its count is not its list of matching tasks")
    return problems


def expert_match(root: str | Path, entry: dict[str, Any], env_overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Play the scripted expert on every task of ``entry`` (its per-episode seeds, pinned environment),
    count the episodes with the same actions, and cache the record; return it."""
    from harness.envs.pool import env_factory
    from harness.leaderboard.replay import build_pinned_env
    from harness.policies.scripted import ExpertPolicy
    from harness.provenance import git_state
    from harness.rollout import run_episodes

    key, prov = entry["key"], entry["result"]["provenance"]
    env_kwargs = {**prov["env_kwargs"], **(env_overrides or {})}
    env = build_pinned_env(key["env_id"], env_kwargs, f"entry {entry['entry_id']}")
    if env.version != key["env_version"]:
        raise ValueError(f"the environment built here is {env.version}, not entry {entry['entry_id']}'s {key['env_version']}")
    if not hasattr(env, "expert_reply"):
        raise ValueError(f"environment '{key['env_id']}' has no scripted expert to compare entry {entry['entry_id']} with")
    stored = [Trajectory.from_dict(t) for t in entry["trajectories"]]
    seeds = [t.seed if t.seed is not None else prov["seed"] for t in stored]
    expert = run_episodes(env_factory(key["env_id"], **env_kwargs), [t.task_id for t in stored], ExpertPolicy(), seeds=seeds)
    matching = [s.task_id for s, x in zip(stored, expert, strict=True) if transitions(s) == transitions(x)]
    record = {
        "format": RECORD_FORMAT,
        "kind": "expert_match",
        "entry_id": entry["entry_id"],
        "key_hash": entry["key_hash"],
        "entry_seal": entry["seal"],
        "method": entry["method"],
        "policy": entry["result"]["policy"],
        "env_version": env.version,
        "compared": "the environment's answer (observation, reward, end) to every action",
        "n": len(stored),
        "matching": len(matching),
        "matching_task_ids": matching,
        "harness_git": git_state(),
        "computed_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    write_record(Path(root), EXPERT_MATCH_DIR, record)
    return record


def compute_expert_matches(root: str | Path, entries: list[dict[str, Any]], log: Callable[[str], None] = print,
                           env_overrides: dict[str, Any] | None = None) -> int:  # fmt: skip
    """Compute the expert match of every entry without a valid cached one; return how many were computed."""
    done = 0
    for entry in entries:
        status = expert_match_status(root, entry)
        if status is None or status.problem:
            expert_match(root, entry, env_overrides)
            status = expert_match_status(root, entry)
            done += 1
        log(f"entry {entry['entry_id']} ({terminal_text(entry['method'])}): {status.describe() if status else 'not computed'}")
    return done
