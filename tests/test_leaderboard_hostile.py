"""Hostile submissions, tried the way a forger would: each is refused with a reason, never a traceback.

Each test is one class of attack (non-finite numbers, wrong JSON types, deep nesting, huge files,
links, names that are markup or terminal escapes, a metrics version that is not ours, the same
episodes under another label) and asserts what a maintainer would check: the exit status, the
reason printed, and that nothing was stored.
"""

from __future__ import annotations

import json
import math
import os

import pytest
from test_leaderboard_submit import (  # noqa: F401 (registers the session fixture lb_evals)
    LIMIT,
    copy_eval,
    forge,
    lb_evals,
    read_trajs,
    submit,
    with_eval_sets,
)

from harness.leaderboard.entry import SubmissionRejected
from harness.types import Trajectory


@pytest.fixture(scope="session")
def evals(request) -> dict:
    """The session's evaluator outputs (``lb_evals`` of test_leaderboard_submit): expert and random on 4 tasks, expert on 6."""
    return request.getfixturevalue("lb_evals")


def api_submit(folder, board):
    """``harness submit`` as a library call: a rejection is :class:`SubmissionRejected`, anything else escapes."""
    from harness.leaderboard.store import LocalLeaderboard
    from harness.leaderboard.submit import submit as submit_folder

    return submit_folder(folder, LocalLeaderboard(with_eval_sets(board)), score=False)


def edit_results(folder, edit) -> None:
    results = json.loads((folder / "results.json").read_text())
    edit(results)
    (folder / "results.json").write_text(json.dumps(results))


def nothing_stored(board) -> bool:
    return (
        not list((board / "entries").glob("*/*.json"))
        if (board / "entries").exists()
        else True
    )


@pytest.mark.parametrize(
    ("token", "value"), [("NaN", math.nan), ("Infinity", math.inf), ("1e999", math.inf)]
)
def test_a_non_finite_reward_is_refused_not_ranked(
    tmp_path, evals, capsys, token, value
):
    """A NaN final reward once compared unequal to nothing: a random policy was listed at 99.0."""
    folder = copy_eval(evals, "random", tmp_path)
    rows = [Trajectory.from_dict({**{k: v for k, v in r.items() if k != "id"}, "final_reward": value}).to_dict()
            for r in read_trajs(folder)]  # fmt: skip
    text = "".join(json.dumps(r) + "\n" for r in rows)
    (folder / "trajectories.jsonl").write_text(text.replace("Infinity", token))
    results = json.loads((folder / "results.json").read_text())
    results["per_task"] = {r["task_id"]: "@X@" for r in rows}
    results["metrics"]["avg_reward"] = {
        "value": 0.99,
        "n": LIMIT,
        "ci_low": 0.98,
        "ci_high": 1.0,
    }
    (folder / "results.json").write_text(json.dumps(results).replace('"@X@"', token))
    assert submit(folder, tmp_path / "lb") == 2
    err = capsys.readouterr().err
    assert "rejected" in err and "only finite numbers" in err
    assert nothing_stored(tmp_path / "lb")


def test_every_number_comparison_fails_on_non_finite_values():
    from harness.leaderboard.replay import close

    assert close(0.5, 0.5 + 1e-12)
    assert (
        not close(math.nan, math.nan)
        and not close(math.inf, math.inf)
        and not close(math.nan, 0.0)
    )
    assert not close("1", 1) and not close(None, 0.0)


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (lambda rows: rows[0]["steps"][0].update(text=5), "line 1 step 1: 'text' must be a string, not an integer"),
        (lambda rows: rows[0].update(task_id=7), "line 1: 'task_id' must be a string, not an integer"),
        (lambda rows: rows[0]["steps"][0].update(reward="1"), "'reward' must be a finite number, not a string"),
        (lambda rows: rows[0]["steps"][0].update(info=[]), "'info' must be an object, not a list"),
        (lambda rows: rows[0]["steps"][0].update(done="yes"), "'done' must be true or false, not a string"),
        (lambda rows: rows[0].update(prefix_steps=0.0), "'prefix_steps' must be an integer >= 0, not a number"),
        (lambda rows: rows[0].update(steps=[{"text": "x"}]), "line 1 step 1 lacks 'action'"),
        (lambda rows: rows[0].update(extra="x"), "line 1 has an unknown field 'extra'"),
    ],
    ids=["text-int", "task-id-int", "reward-str", "info-list", "done-str", "prefix-steps-float", "step-fields", "extra-field"],
)  # fmt: skip
def test_wrong_json_types_in_a_trajectory_are_a_rejection(
    tmp_path, evals, edit, reason
):
    """Forged with every hash recomputed, so only the type checks stand between the row and the replay."""
    folder = copy_eval(evals, "expert", tmp_path)
    try:
        forge(folder, edit)
    except (
        TypeError
    ):  # a record no Trajectory can hold, so no hash to recompute: written as edited
        forge(folder, edit, rehash=False)
    with pytest.raises(SubmissionRejected) as info:
        api_submit(folder, tmp_path / "lb")
    assert reason in str(info.value)
    assert nothing_stored(tmp_path / "lb")


@pytest.mark.parametrize(
    ("edit", "reason"),
    [
        (
            lambda r: r["provenance"].update(n_tasks=float(LIMIT)),
            "provenance 'n_tasks' must be an integer",
        ),
        (
            lambda r: r["provenance"].update(limit=str(LIMIT)),
            "provenance 'limit' must be an integer",
        ),
        (
            lambda r: r["per_task"].update({"0\x1b[2J": 1.0}),
            "contains the control character U+001B",
        ),
    ],
    ids=["float-task-count-opens-another-key", "limit-str", "task-id-escape"],
)
def test_wrong_types_in_results_json_are_a_rejection(tmp_path, evals, edit, reason):
    folder = copy_eval(evals, "expert", tmp_path)
    edit_results(folder, edit)
    with pytest.raises(SubmissionRejected) as info:
        api_submit(folder, tmp_path / "lb")
    assert reason in str(info.value) and "\x1b" not in str(info.value)


@pytest.mark.parametrize("depth", [40, 100_000])
def test_deeply_nested_json_is_a_rejection(tmp_path, evals, depth):
    folder = copy_eval(evals, "expert", tmp_path)
    lines = (folder / "trajectories.jsonl").read_text().splitlines()
    lines[1] = lines[1].replace(
        '"info": {}', '"info": {"x": ' + "[" * depth + "]" * depth + "}", 1
    )
    (folder / "trajectories.jsonl").write_text("\n".join(lines) + "\n")
    with pytest.raises(SubmissionRejected) as info:
        api_submit(folder, tmp_path / "lb")
    assert "trajectories.jsonl line 2 nests deeper than 32 levels" in str(info.value)


def test_a_truncated_file_names_the_bad_line(tmp_path, evals):
    folder = copy_eval(evals, "expert", tmp_path)
    data = (folder / "trajectories.jsonl").read_bytes()
    (folder / "trajectories.jsonl").write_bytes(data[: len(data) - 40])
    with pytest.raises(SubmissionRejected) as info:
        api_submit(folder, tmp_path / "lb")
    assert f"trajectories.jsonl line {LIMIT} is not valid JSON" in str(info.value)


def test_a_huge_trajectories_file_is_refused_without_reading_it(
    tmp_path, evals, capsys
):
    """A sparse file past the cap: refused from its size (the old reader loaded it whole)."""
    from harness.leaderboard.untrusted_input import MAX_TRAJECTORIES_BYTES

    folder = copy_eval(evals, "expert", tmp_path)
    os.truncate(folder / "trajectories.jsonl", MAX_TRAJECTORIES_BYTES + 1)
    assert submit(folder, tmp_path / "lb") == 2
    assert f"over the limit of {MAX_TRAJECTORIES_BYTES:,}" in capsys.readouterr().err


def test_an_endless_line_is_refused_at_the_line_cap(tmp_path, evals, capsys):
    from harness.leaderboard.untrusted_input import MAX_LINE_BYTES

    folder = copy_eval(evals, "expert", tmp_path)
    os.truncate(
        folder / "trajectories.jsonl", MAX_LINE_BYTES * 2
    )  # NUL bytes after the last newline
    assert submit(folder, tmp_path / "lb") == 2
    assert (
        f"line {LIMIT + 1} is over the limit of {MAX_LINE_BYTES:,} bytes for one trajectory"
        in capsys.readouterr().err
    )


@pytest.mark.parametrize("name", ["trajectories.jsonl", "results.json"])
def test_a_symlinked_file_is_not_followed(tmp_path, evals, capsys, name):
    folder = copy_eval(evals, "expert", tmp_path)
    real = tmp_path / f"elsewhere-{name}"
    (folder / name).rename(real)
    (folder / name).symlink_to(real)  # valid content: only the link itself is wrong
    assert submit(folder, tmp_path / "lb") == 2
    assert f"{name} is a symbolic link" in capsys.readouterr().err
    assert nothing_stored(tmp_path / "lb")


def test_a_fifo_is_refused_not_waited_on(tmp_path, evals, capsys):
    folder = copy_eval(evals, "expert", tmp_path)
    (folder / "trajectories.jsonl").unlink()
    os.mkfifo(folder / "trajectories.jsonl")
    assert submit(folder, tmp_path / "lb") == 2
    assert "trajectories.jsonl is not a regular file" in capsys.readouterr().err


def test_markdown_in_a_name_is_shown_literally(tmp_path, evals):
    from harness.leaderboard import publish

    name = "[win](https://evil.example) ![px](https://evil.example/p.png) <b>x</b> `c` *b* www.evil.example"
    assert submit(evals["expert"], tmp_path / "lb", "--method", name) == 0
    terminal = publish(tmp_path / "lb")
    readme = (tmp_path / "lb" / "README.md").read_text()
    row = next(line for line in readme.splitlines() if "win" in line)
    for markup in ("[win](", "![px]", "<b>", "`c`", "*b*", "www.evil", "https://"):
        assert markup not in row
    assert r"\[win\]\(https\:" in row
    assert name in terminal  # plain text is shown as typed
    assert "&lt;b&gt;x&lt;/b&gt;" in (tmp_path / "lb" / "index.html").read_text()


@pytest.mark.parametrize(
    "where",
    ["--method", "results.json policy", "recipe label"],
)
def test_terminal_escapes_in_names_are_refused_and_never_printed(
    tmp_path, evals, capsys, where
):
    folder = copy_eval(evals, "expert", tmp_path / "runs" / "r" / "run1")
    extra = []
    if where == "--method":
        extra = ["--method", "\x1b[2J\x1b[31mOWNED\x1b[0m"]
    elif where == "results.json policy":
        edit_results(
            folder,
            lambda r: r.update(
                policy="\x1b]8;;https://evil.example\x07click\x1b]8;;\x07"
            ),
        )
    else:
        (folder.parent / "recipe.resolved.json").write_text(
            json.dumps({"config_hash": "c", "recipe": {"name": "r"}})
        )
        (folder / "manifest.json").write_text(
            json.dumps({"stage": "eval", "label": "IPR\u202e2 noitareti"})
        )
    assert submit(folder, tmp_path / "lb", *extra) == 2
    out, err = capsys.readouterr()
    assert "control character" in err
    assert "\x1b" not in out + err and "\u202e" not in out + err
    assert nothing_stored(tmp_path / "lb")


def test_the_renderers_make_any_name_inert():
    from harness.leaderboard.escaping import html_text, markdown_text, terminal_text

    hostile = "\x1b[31mred\x1b[0m\x07 \u202e[a](b)<i>|\nnext"
    assert terminal_text(hostile) == "red\ufffd \ufffd[a](b)<i>| next"
    assert markdown_text(hostile) == "red\ufffd \ufffd\\[a\\]\\(b\\)&lt;i&gt;\\| next"
    assert html_text(hostile) == "red\ufffd \ufffd[a](b)&lt;i&gt;| next"


def test_a_metrics_version_that_is_not_ours_is_refused(tmp_path, evals, capsys):
    folder = copy_eval(evals, "expert", tmp_path)
    edit_results(
        folder,
        lambda r: r["provenance"].update(metrics_version="9 [x](https://evil.example)"),
    )
    assert submit(folder, tmp_path / "lb") == 2
    err = capsys.readouterr().err
    assert (
        "metrics_version '9 [x](https://evil.example)' is not one this leaderboard computes (accepted: 1)"
        in err
    )
    assert nothing_stored(tmp_path / "lb")


def test_the_same_episodes_under_another_policy_label_are_a_duplicate(
    tmp_path, evals, capsys
):
    board = tmp_path / "lb"
    assert submit(evals["random"], board) == 0
    (entry,) = (json.loads(p.read_text()) for p in (board / "entries").glob("*/*.json"))
    folder = copy_eval(evals, "random", tmp_path)
    forge(folder, lambda rows: [r.update(policy="hf:my-great-model") for r in rows])
    edit_results(folder, lambda r: r.update(policy="hf:my-great-model"))
    capsys.readouterr()
    assert submit(folder, board, "--method", "My great model") == 2
    err = capsys.readouterr().err
    assert (
        f"the same {LIMIT} episodes were already submitted as entry {entry['entry_id']} ('random'"
        in err
    )
    assert len(list((board / "entries").glob("*/*.json"))) == 1
