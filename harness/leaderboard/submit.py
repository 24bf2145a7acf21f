"""``harness submit``: read a result folder, verify it by replay, refuse duplicates, store it.

The steps, each of which rejects with a reason: the folder holds a schema-valid ``results.json``
and ``trajectories.jsonl``; its eval set, step budget and env options are a set the leaderboard
registers (:mod:`~harness.leaderboard.eval_sets`); the pinned environment can be built from the recorded ``env_kwargs``
and reproduces the declared comparability key; every task of the eval set has exactly one
trajectory; replaying every logged action gives the logged observations and rewards; the metrics
recompute; the entry is not already on the board (same key and same episodes, whatever the
labels). Accepted entries are sealed and stored immutably, then scored for action efficiency when
their key has a pinned scorer (local leaderboard only). Every file is read as hostile input:
anything malformed is a :class:`~harness.leaderboard.entry.SubmissionRejected` with its reason.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.leaderboard.entry import SubmissionRejected, build_entry, read_submission
from harness.leaderboard.escaping import terminal_text
from harness.leaderboard.replay import verify_submission
from harness.leaderboard.store import HubLeaderboard, LocalLeaderboard


@dataclass(frozen=True)
class Accepted:
    """An accepted submission: the entry, where it was stored, and its action-efficiency score."""

    entry: dict[str, Any]
    location: str
    score: dict[str, Any] | None
    score_note: str


def submit(
    folder: str | Path,
    board: LocalLeaderboard | HubLeaderboard,
    method: str | None = None,
    env_overrides: dict[str, Any] | None = None,
    score: bool = True,
    execution: Any = None,
) -> Accepted:
    """Verify ``folder`` and add it to ``board``; raises :class:`SubmissionRejected` with the reasons.
    ``execution`` (:class:`~harness.execution.settings.ExecutionSettings`): where the action-efficiency
    scorer's rollouts run (default: here)."""
    sub = read_submission(folder, method)
    try:
        eval_sets = board.eval_sets()
    except ValueError as e:
        raise SubmissionRejected(sub.source, [f"cannot read the leaderboard's eval sets: {e}"]) from None
    verification, trajectories = verify_submission(sub, eval_sets, env_overrides)
    entry = build_entry(sub, verification, trajectories)
    location = _store(board, entry, sub.source)
    record, note = None, ""
    if isinstance(board, LocalLeaderboard):
        from harness.leaderboard.scoring import pinned_scorers, score_entry

        pin = pinned_scorers(board.root).get(entry["key_hash"])
        if pin is None:
            note = f"no scorer is pinned for key {entry['key_hash']} in {board.root / 'scorers.json'}: action efficiency is not measured"
        elif not score:
            note = "scoring skipped (--no-score); `harness leaderboard --score` computes it"
        else:
            try:
                record = score_entry(board.root, entry, pin, env_overrides, execution=execution)
            except Exception as e:  # the entry is stored either way; scoring can be redone later
                note = f"action efficiency not computed ({e}); fix the scorer pin, then run `harness leaderboard --score`"
    else:
        note = "the Hub leaderboard's maintainers score entries after merging the pull request"
    return Accepted(entry, location, record, note)


def _store(board: LocalLeaderboard | HubLeaderboard, entry: dict[str, Any], source: str) -> str:
    """Refuse a duplicate, else add ``entry``; on a local board both under the folder's lock, so two
    submissions of the same episodes at the same moment store one."""
    if isinstance(board, LocalLeaderboard):
        with board.locked():
            return _store_unlocked(board, entry, source)
    return _store_unlocked(board, entry, source)


def _store_unlocked(board: LocalLeaderboard | HubLeaderboard, entry: dict[str, Any], source: str) -> str:
    duplicate = board.find_duplicate(entry)
    if duplicate:
        raise SubmissionRejected(source, [duplicate])
    try:
        return board.add(entry)
    except ValueError as e:
        raise SubmissionRejected(source, [str(e)]) from None


def describe(accepted: Accepted) -> str:
    """What ``harness submit`` prints for an accepted entry."""
    e = accepted.entry
    m = e["result"]["metrics"]["avg_reward"]
    v = e["submission"]["verification"]
    lines = [
        f"accepted '{terminal_text(e['method'])}' as entry {e['entry_id']} (key {e['key_hash']}): "
        f"replayed {v['episodes']} episodes, {v['steps']} steps, every observation and reward matched",
        f"  avg reward {100 * m['value']:.1f} [{100 * m['ci_low']:.1f}, {100 * m['ci_high']:.1f}] x100 (n={m['n']})",
    ]
    if accepted.score:
        s = accepted.score
        lines.append(f"  action efficiency {s['value']:.3f} with the pinned scorer {s['scorer']['policy']}")
    elif accepted.score_note:
        lines.append(f"  {accepted.score_note}")
    lines.append(f"  stored at {terminal_text(accepted.location)}")
    return "\n".join(lines)


def reverify(board: LocalLeaderboard, log: Callable[[str], None] = print, samples: int | None = None,
             seed: int = 0) -> list[str]:  # fmt: skip
    """Check every stored entry again and replay it (e.g. after environment code changed), then the
    spot-check and expert-match records (:func:`~harness.leaderboard.check_records.verify_records`);
    return the failures: files that are malformed, edited, misplaced or duplicated, entries that no
    longer replay, and records that were edited or name no entry on the board.

    ``samples`` K makes it a quick check: only K episodes of each entry, drawn with ``seed`` and the
    entry id, are replayed; seals, schemas, keys, eval sets, coverage and metrics are checked in full."""
    import random

    from harness.leaderboard.entry import Submission

    entries, problems = board.scan()
    failures = [terminal_text(p) for p in problems]
    eval_sets = board.eval_sets()
    for e in entries:
        sub = Submission(f"entry {e['entry_id']}", e["result"], e["trajectories"], e["submission"]["recipe"], e["method"])
        tasks = sorted(str(row.get("task_id")) for row in e["trajectories"] if isinstance(row, dict))
        picked = None if samples is None else set(random.Random(f"{seed}:{e['entry_id']}").sample(tasks, min(samples, len(tasks))))
        try:
            verify_submission(sub, eval_sets, replay_tasks=picked)
            replayed = "replays exactly" if picked is None else f"{len(picked)} of {len(tasks)} sampled episodes replay exactly"
            log(f"entry {e['entry_id']} ({terminal_text(e['method'])}): {replayed}")
        except SubmissionRejected as err:
            failures.append(str(err))
    from harness.leaderboard.check_records import verify_records

    return failures + verify_records(board.root, entries, log)
