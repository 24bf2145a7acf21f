"""Property: whatever malformed files a submitter or a folder editor produces, the answer is a rejection, never a crash.

Hypothesis (derandomized, so every run tries the same cases) mutates an honest submission (random
JSON values in place of fields, steps, whole lines or results.json fields; NaN and infinities;
deep nesting; control characters and lone surrogates; raw bytes; truncation) and a stored entry
(byte damage, or random fields with the seal recomputed). ``harness submit`` must answer
``SubmissionRejected`` (or accept a mutation that happens to be harmless); the board must be built
with the bad file left off. Any other exception fails the test.
"""

from __future__ import annotations

import contextlib
import json
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_leaderboard_submit import lb_evals, with_eval_sets  # noqa: F401 (registers the session fixture lb_evals)

from harness.leaderboard.entry import SubmissionRejected
from harness.types import content_hash


@pytest.fixture(scope="session")
def evals(request) -> dict:
    """The session's evaluator outputs (``lb_evals`` of test_leaderboard_submit): expert and random on 4 tasks, expert on 6."""
    return request.getfixturevalue("lb_evals")


SETTINGS = settings(max_examples=60, derandomize=True, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip

bad_strings = st.sampled_from(
    ["", "\x1b[31mred", "a\nb", "\u202egnp.exe", "\ud800", "x" * 5000, "NaN", "[a](b)"]
) | st.text(max_size=20)
numbers = (
    st.floats(allow_nan=True, allow_infinity=True)
    | st.integers(min_value=-(10**40), max_value=10**40)
    | st.booleans()
)
json_values = st.recursive(st.none() | numbers | bad_strings,
                           lambda inner: st.lists(inner, max_size=3) | st.dictionaries(bad_strings, inner, max_size=3), max_leaves=8)  # fmt: skip
ROW_FIELDS = ["id", "env_id", "env_version", "task_id", "instruction", "initial_observation", "steps", "final_reward",
              "stop_reason", "policy", "seed", "success_threshold", "prefix_steps", "success", "unknown"]  # fmt: skip
STEP_FIELDS = ["text", "action", "observation", "reward", "done", "info"]
RESULT_FIELDS = [("policy",), ("env_id",), ("split",), ("per_task", "0"), ("metrics", "avg_reward", "value"), ("metrics", "avg_reward", "n"),
                 ("provenance", "n_tasks"), ("provenance", "max_steps"), ("provenance", "limit"), ("provenance", "metrics_version"),
                 ("provenance", "env_kwargs"), ("provenance", "task_ids_hash")]  # fmt: skip

mutations = st.one_of(
    st.tuples(
        st.just("row"), st.integers(0, 3), st.sampled_from(ROW_FIELDS), json_values
    ),
    st.tuples(
        st.just("step"), st.integers(0, 3), st.sampled_from(STEP_FIELDS), json_values
    ),
    st.tuples(st.just("line"), st.integers(0, 3), json_values),
    st.tuples(st.just("bytes"), st.integers(0, 3), st.binary(max_size=40)),
    st.tuples(st.just("truncate"), st.floats(0, 1)),
    st.tuples(st.just("deep"), st.integers(0, 3), st.integers(20, 20_000)),
    st.tuples(st.just("results"), st.sampled_from(RESULT_FIELDS), json_values),
)


def _set(obj, path, value):
    """``obj[path[0]][path[1]]... = value`` where that path still exists (an earlier mutation may have replaced it)."""
    for k in path[:-1]:
        if (
            not isinstance(obj, dict | list)
            or (isinstance(obj, list) and not isinstance(k, int))
            or k not in (obj if isinstance(obj, dict) else range(len(obj)))
        ):
            return
        obj = obj[k]
    if isinstance(obj, dict) or (
        isinstance(obj, list) and isinstance(path[-1], int) and path[-1] < len(obj)
    ):
        obj[path[-1]] = value


def mutate(folder: Path, mutation: tuple) -> None:
    """Apply one generated mutation to the submission in ``folder`` (written with NaN/Infinity tokens as Python does)."""
    kind, *args = mutation
    lines = (folder / "trajectories.jsonl").read_bytes().splitlines(keepends=True) or [
        b""
    ]
    if kind in ("row", "step", "line", "deep"):
        i = args[0] % len(lines)
        try:
            row = json.loads(lines[i])
        except (
            ValueError,
            RecursionError,
        ):  # an earlier mutation already broke this line
            row = {}
        if not isinstance(row, dict):
            row = {}
        if kind == "row":
            row[args[1]] = args[2]
        elif (
            kind == "step"
            and isinstance(row.get("steps"), list)
            and row["steps"]
            and isinstance(row["steps"][0], dict)
        ):
            row["steps"][0][args[1]] = args[2]
        text = json.dumps(args[1]) if kind == "line" else json.dumps(row)
        if kind == "deep":
            text = json.dumps({**row, "info": "@"}).replace(
                '"@"', "[" * args[1] + "]" * args[1]
            )
        lines[i] = text.encode("utf-8", "surrogatepass") + b"\n"
    elif kind == "bytes":
        lines[args[0] % len(lines)] = args[1] + b"\n"
    elif kind == "truncate":
        data = b"".join(lines)
        lines = [data[: int(len(data) * args[0])]]
    if kind == "results":
        results = json.loads((folder / "results.json").read_text())
        _set(results, args[0], args[1])
        (folder / "results.json").write_bytes(
            json.dumps(results).encode("utf-8", "surrogatepass")
        )
    (folder / "trajectories.jsonl").write_bytes(b"".join(lines))


@SETTINGS
@given(st.lists(mutations, min_size=1, max_size=3))
def test_any_malformed_submission_is_a_rejection(evals, batch):
    from harness.leaderboard.store import LocalLeaderboard
    from harness.leaderboard.submit import submit

    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(shutil.copytree(evals["expert"], Path(tmp) / "expert"))
        for m in batch:
            mutate(folder, m)
        try:
            accepted = submit(folder, LocalLeaderboard(with_eval_sets(Path(tmp) / "lb")), score=False)
        except SubmissionRejected:
            return
        from harness.leaderboard.sealing import read_stored_entry

        read_stored_entry(
            Path(accepted.location)
        )  # a harmless mutation: what was stored is sound


ENTRY_FIELDS = [("method",), ("key", "max_steps"), ("key", "metrics_version"), ("result", "policy"), ("result", "per_task", "0"),
                ("result", "metrics", "avg_reward", "value"), ("trajectories", 0, "final_reward"), ("trajectories", 0, "steps", 0, "reward"),
                ("submission", "verification", "episodes"), ("submission", "recipe"), ("submission", "submitted_at"), ("schema_version",)]  # fmt: skip
entry_damage = st.one_of(
    st.tuples(st.just("bytes"), st.floats(0, 1), st.binary(max_size=20)),
    st.tuples(
        st.just("field"), st.sampled_from(ENTRY_FIELDS), json_values, st.booleans()
    ),
)


@pytest.fixture(scope="module")
def stored_entry(evals, tmp_path_factory) -> Path:
    """One honest stored entry file."""
    from harness.cli import main

    board = tmp_path_factory.mktemp("fuzz-board")
    assert (
        main(
            ["submit", str(evals["expert"]), "--leaderboard", str(with_eval_sets(board)), "--no-score"]
        )
        == 0
    )
    (path,) = (board / "entries").glob("*/*.json")
    return path


@SETTINGS
@given(entry_damage)
def test_any_damaged_stored_entry_is_left_off_and_reported(stored_entry, damage):
    from harness.leaderboard.board import build_board
    from harness.leaderboard.page import render_html
    from harness.leaderboard.tables import render_markdown, render_terminal

    data = stored_entry.read_bytes()
    if damage[0] == "bytes":
        at = int(len(data) * damage[1])
        data = data[:at] + damage[2] + data[at + len(damage[2]) :]
    else:
        entry = json.loads(data)
        _set(entry, damage[1], damage[2])
        if damage[
            3
        ]:  # a forger with write access recomputes the seal (impossible over a lone surrogate)
            with contextlib.suppress(UnicodeEncodeError):
                entry["seal"] = content_hash(
                    {k: v for k, v in entry.items() if k != "seal"}, length=64
                )
        data = json.dumps(entry).encode("utf-8", "surrogatepass")
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / stored_entry.relative_to(stored_entry.parent.parent.parent)
        path.parent.mkdir(parents=True)
        path.write_bytes(data)
        board = build_board(tmp)
        assert len(board.skipped) + sum(len(g.rows) for g in board.groups) == 1
        for text in (
            render_terminal(board),
            render_markdown(board),
            render_html(board),
        ):
            assert "\x1b" not in text and "\u202e" not in text
