"""Stored entries are sealed and checked whole; bad stored files are reported and skipped; submissions are serialised.

The forgers here have write access to the leaderboard folder: they edit an entry in place, move it
under another key with every hash recomputed, copy it under a new name, drop malformed files next
to it, or submit the same episodes twice at the same moment.
"""

from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest
from test_leaderboard_submit import copy_eval, lb_evals, submit, with_eval_sets  # noqa: F401 (registers the session fixture lb_evals)

from harness.cli import main
from harness.leaderboard.entry import SubmissionRejected
from harness.types import content_hash


@pytest.fixture(scope="session")
def evals(request) -> dict:
    """The session's evaluator outputs (``lb_evals`` of test_leaderboard_submit): expert and random on 4 tasks, expert on 6."""
    return request.getfixturevalue("lb_evals")


def stored(board: Path) -> list[Path]:
    return sorted((board / "entries").glob("*/*.json"))


def rewrite(path: Path, entry: dict, reseal: bool = True) -> Path:
    """Write ``entry`` back as a forger with write access would: ids and (``reseal``) the seal recomputed."""
    if reseal and "seal" in entry:
        entry["seal"] = content_hash(
            {k: v for k, v in entry.items() if k != "seal"}, length=64
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.chmod(0o644)
    path.write_text(json.dumps(entry))
    return path


def leaderboard(board: Path, *extra: str) -> int:
    return main(["leaderboard", "--leaderboard", str(board), *extra])


def test_a_method_renamed_on_disk_fails_verify_and_leaves_the_board(
    tmp_path, evals, capsys
):
    board = tmp_path / "lb"
    assert submit(evals["random"], board) == 0
    (path,) = stored(board)
    entry = json.loads(path.read_text())
    entry["method"] = (
        "GPT-5 agent"  # the entry id does not cover the method; the seal does
    )
    rewrite(path, entry, reseal=False)
    capsys.readouterr()
    assert leaderboard(board, "--verify") == 2
    assert "no longer matches its seal" in capsys.readouterr().err
    assert leaderboard(board) == 0
    assert "GPT-5" not in (board / "README.md").read_text()


def test_an_entry_moved_into_another_key_with_its_hashes_recomputed_fails_verify(
    tmp_path, evals, capsys
):
    board = tmp_path / "lb"
    assert submit(evals["random"], board) == 0
    (path,) = stored(board)
    entry = json.loads(path.read_text())
    entry["key"]["max_steps"] = 30  # a key of its own, where it would rank first
    entry["key_hash"] = content_hash(entry["key"])
    ids = [t["id"] for t in entry["trajectories"]]
    entry["entry_id"] = content_hash(
        {"key": entry["key"], "result": entry["result"], "trajectory_ids": ids}
    )
    path.chmod(0o644)
    path.unlink()
    rewrite(board / "entries" / entry["key_hash"] / f"{entry['entry_id']}.json", entry)
    capsys.readouterr()
    assert leaderboard(board, "--verify") == 2
    assert (
        f"is filed under key {entry['key_hash']}, but its result declares key"
        in capsys.readouterr().err
    )
    assert leaderboard(board) == 0
    assert "No entries yet" in (board / "README.md").read_text()


def test_a_copy_of_an_entry_under_a_new_name_is_left_off(tmp_path, evals, capsys):
    board = tmp_path / "lb"
    assert submit(evals["random"], board, "--method", "Random") == 0
    (path,) = stored(board)
    entry = json.loads(path.read_text())
    entry["method"] = "Fancy agent"
    entry["result"]["provenance"]["wall_time_s"] += (
        1  # another result, so another entry id and file
    )
    entry["submission"]["submitted_at"] = "2099-01-01T00:00:00+00:00"
    ids = [t["id"] for t in entry["trajectories"]]
    entry["entry_id"] = content_hash(
        {"key": entry["key"], "result": entry["result"], "trajectory_ids": ids}
    )
    rewrite(path.with_name(f"{entry['entry_id']}.json"), entry)
    capsys.readouterr()
    assert leaderboard(board) == 0
    out = capsys.readouterr().out
    assert (
        "Fancy agent" not in out.split("left off the board")[0]
        and "holds the same episodes as entry" in out
    )
    assert leaderboard(board, "--verify") == 2


def test_malformed_stored_files_block_neither_submissions_nor_the_board(
    tmp_path, evals, capsys
):
    board = tmp_path / "lb"
    assert submit(evals["random"], board, "--method", "Random") == 0
    key_dir = stored(board)[0].parent
    (key_dir / "0000000000000000.json").write_text("{not json")
    (key_dir / "1111111111111111.json").write_text("[]")
    (key_dir / "2222222222222222.json").write_text(
        '{"schema_version": "2", "method": NaN}'
    )
    (key_dir / "3333333333333333.json").symlink_to("/dev/zero")
    assert (
        submit(evals["expert"], board, "--method", "Expert") == 0
    )  # same key, after the bad files
    capsys.readouterr()
    assert leaderboard(board) == 0
    out = capsys.readouterr().out
    assert (
        "Expert" in out
        and "Random" in out
        and "left off the board: 4 stored file(s)" in out
    )
    assert leaderboard(board, "--verify") == 2
    err = capsys.readouterr().err
    assert (
        "0000000000000000.json is not valid JSON" in err
        and "3333333333333333.json is a symbolic link" in err
    )


def test_the_same_episodes_submitted_at_the_same_moment_are_stored_once(
    tmp_path, evals, monkeypatch
):
    """Two submitters race: both pass the duplicate check before either writes, unless the store serialises them."""
    from harness.leaderboard.store import LocalLeaderboard
    from harness.leaderboard.submit import submit as submit_folder

    board = tmp_path / "lb"
    copy = copy_eval(evals, "random", tmp_path)
    results = json.loads((copy / "results.json").read_text())
    results["provenance"]["wall_time_s"] += 1  # another run of the same episodes
    (copy / "results.json").write_text(json.dumps(results))

    both_checked = threading.Barrier(2, timeout=3)
    real = LocalLeaderboard.find_duplicate

    def slow_check(
        self, entry
    ):  # widens the race window: wait until the other submitter has checked too
        found = real(self, entry)
        try:
            both_checked.wait()
        except threading.BrokenBarrierError:
            pass  # serialised: the other submitter is waiting for the lock
        return found

    monkeypatch.setattr(LocalLeaderboard, "find_duplicate", slow_check)
    outcomes: list[object] = []

    def run(folder: Path) -> None:
        try:
            outcomes.append(submit_folder(folder, LocalLeaderboard(with_eval_sets(board)), score=False))
        except Exception as e:  # noqa: BLE001 - the test asserts what each submitter got
            outcomes.append(e)

    threads = [threading.Thread(target=run, args=(f,)) for f in (evals["random"], copy)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    rejected = [o for o in outcomes if isinstance(o, SubmissionRejected)]
    assert len(stored(board)) == 1
    assert len(rejected) == 1 and "duplicate entry" in str(rejected[0])


def test_the_projects_migrated_entries_are_sealed(tmp_path):
    """The committed entries carry format 2 and a valid seal (the one-off migration of issue 18)."""
    from harness.leaderboard.store import LocalLeaderboard

    root = Path(__file__).resolve().parent.parent / "leaderboard"
    shutil.copytree(root / "entries", tmp_path / "entries")
    entries, problems = LocalLeaderboard(tmp_path).scan()
    assert problems == [] and len(entries) == len(stored(tmp_path)) > 0
    assert all(e["schema_version"] == "2" and len(e["seal"]) == 64 for e in entries)


def test_verify_with_samples_replays_a_seeded_sample_and_still_checks_every_seal(tmp_path, evals, capsys, monkeypatch):
    from harness.leaderboard import replay

    board = tmp_path / "lb"
    assert submit(evals["random"], board) == 0
    replayed: list[str] = []
    real = replay.replay_trajectory
    monkeypatch.setattr(replay, "replay_trajectory", lambda env, t, budget: replayed.append(t.task_id) or real(env, t, budget))

    out = []

    def verify(*extra: str) -> list[str]:
        replayed.clear()
        capsys.readouterr()
        assert leaderboard(board, "--verify", *extra) == 0
        out.append(capsys.readouterr().out)
        return sorted(replayed)

    assert len(verify()) == 4  # the full check replays every episode
    first = verify("--samples", "2")
    assert len(first) == 2 and verify("--samples", "2") == first  # the same seed, the same episodes
    assert "2 of 4 sampled episodes replay exactly" in out[-1] and "replays exactly" in out[0]
    assert len(verify("--samples", "9")) == 4
    assert any(verify("--samples", "2", "--seed", str(s)) != first for s in range(1, 8))
    # an episode left out of the sample and edited on disk is still caught: the seal covers the whole entry
    (path,) = stored(board)
    entry = json.loads(path.read_text())
    row = next(r for r in entry["trajectories"] if r["task_id"] not in first)
    row["steps"][0]["reward"] = 1.0
    rewrite(path, entry, reseal=False)
    capsys.readouterr()
    assert leaderboard(board, "--verify", "--samples", "2") == 2
    assert "no longer matches its seal" in capsys.readouterr().err
    assert leaderboard(board, "--samples", "2") == 2  # --samples alone is a mistake, not silently ignored
