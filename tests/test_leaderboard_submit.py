"""`harness submit`: honest results are accepted and stored immutably; tampered ones are rejected with the reason.

The tampering helpers forge submissions the way a careful cheat would: after editing a trajectory
they recompute its content hash, and they rewrite results.json's per-task rewards and metrics to
match, so only the replay in the pinned environment can catch the edit.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from harness.cli import main
from harness.evaluation.metrics import episode_metrics
from harness.types import Trajectory

LIMIT = 4
_EVAL_SETS: list[Path] = []
"""The eval_sets.json registering the small catalog's 4- and 6-task test sets (written by ``lb_evals``)."""


@pytest.fixture(scope="session")
def lb_evals(tmp_path_factory, small_catalog) -> dict[str, Path]:
    """Evaluator outputs on the small catalog: expert and random on 4 test tasks, expert on 6; and a
    registry of those two eval sets (IPR protocol), which :func:`with_eval_sets` copies into a board."""
    from harness.evaluation.evaluator import EvalConfig, evaluate
    from harness.leaderboard.eval_sets import register_eval_set

    root = tmp_path_factory.mktemp("evals")
    out = {}
    for name, policy, limit in (("expert", "expert", LIMIT), ("random", "random", LIMIT), ("expert6", "expert", 6)):
        cfg = EvalConfig(env_kwargs={"data": str(small_catalog), "nouns": "heuristic"}, policy=policy, limit=limit,
                         output=str(root / name), progress=False)  # fmt: skip
        evaluate(cfg)
        out[name] = root / name
    register_eval_set(root / "registry", out["expert"], "small-test-4", "ipr", title="Small catalog test (4 goals)")
    register_eval_set(root / "registry", out["expert6"], "small-test-6", "ipr", title="Small catalog test (6 goals)")
    _EVAL_SETS[:] = [root / "registry" / "eval_sets.json"]
    return out


def with_eval_sets(board: Path) -> Path:
    """``board`` (created) with the small catalog's eval sets registered, unless it has a registry already."""
    board.mkdir(parents=True, exist_ok=True)
    if not (board / "eval_sets.json").exists():
        shutil.copy(_EVAL_SETS[0], board / "eval_sets.json")
    return board


def copy_eval(lb_evals, name: str, dest: Path) -> Path:
    """A private copy of an evaluator output folder that a test may edit."""
    return Path(shutil.copytree(lb_evals[name], dest / name))


def read_trajs(folder: Path) -> list[dict]:
    return [json.loads(line) for line in (folder / "trajectories.jsonl").read_text().splitlines()]


def forge(folder: Path, edit, rehash: bool = True) -> None:
    """Apply ``edit`` to the trajectory dicts, then make every hash, per-task reward and metric agree."""
    rows = read_trajs(folder)
    edit(rows)
    if rehash:
        rows = [Trajectory.from_dict({k: v for k, v in r.items() if k != "id"}).to_dict() for r in rows]
    (folder / "trajectories.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    if rehash:
        results = json.loads((folder / "results.json").read_text())
        trajs = [Trajectory.from_dict(r) for r in rows]
        results["per_task"] = {t.task_id: t.final_reward for t in trajs}
        results["metrics"] = {k: vars(m) for k, m in episode_metrics(trajs).items()}
        results["env_version"] = trajs[0].env_version if trajs else results["env_version"]
        (folder / "results.json").write_text(json.dumps(results))


def submit(folder: Path, board: Path, *extra: str) -> int:
    return main(["submit", str(folder), "--leaderboard", str(with_eval_sets(board)), *extra])


def test_an_honest_result_is_accepted_and_stored_read_only(tmp_path, lb_evals, capsys):
    board = tmp_path / "lb"
    assert submit(lb_evals["expert"], board) == 0
    out = capsys.readouterr().out
    assert f"replayed {LIMIT} episodes" in out and "every observation and reward matched" in out
    assert "no scorer is pinned" in out
    (path,) = (board / "entries").glob("*/*.json")
    entry = json.loads(path.read_text())
    assert path.stem == entry["entry_id"] and path.parent.name == entry["key_hash"]
    assert not path.stat().st_mode & 0o222  # read-only
    assert entry["key"]["n_tasks"] == LIMIT and entry["key"]["max_steps"] == 10
    assert len(entry["trajectories"]) == LIMIT and entry["method"] == "expert"
    assert (board / "schema.json").exists()


def test_the_committed_schema_is_the_packages_entry_schema():
    from harness.leaderboard.entry import entry_schema

    committed = Path(__file__).resolve().parent.parent / "leaderboard" / "schema.json"
    assert json.loads(committed.read_text()) == entry_schema()


def _set_last_step_reward(rows):
    t = rows[0]
    t["steps"][-1].update(reward=1.0, done=True, info={})
    t.update(final_reward=1.0, stop_reason="done")


@pytest.mark.parametrize(
    ("name", "edit", "reason"),
    [
        ("random", _set_last_step_reward, "logged reward 1.0"),
        ("random", lambda rows: rows[1].update(final_reward=1.0), "final reward 1.0, but the replayed episode earns"),
        ("expert", lambda rows: rows[0]["steps"][0].update(text="Thought: x\nAction: search[red shoes]", action="search[red shoes]"),
         "step 1 ('search[red shoes]'): the observation differs"),
        ("expert", lambda rows: rows[0]["steps"][0].update(action="search[red shoes]"), "is not the action of its reply text"),
        ("expert", lambda rows: rows.pop(2), "missing task(s) 2"),
        ("expert", lambda rows: rows.append(dict(rows[0])), "duplicate trajectories for task(s) 0"),
    ],
    ids=["changed-step-reward", "changed-final-reward", "changed-action", "action-not-in-reply", "dropped-task", "duplicated-task"],
)  # fmt: skip
def test_forged_submissions_are_rejected_with_the_reason(tmp_path, lb_evals, capsys, name, edit, reason):
    folder = copy_eval(lb_evals, name, tmp_path)
    forge(folder, edit)
    assert submit(folder, tmp_path / "lb") == 2
    err = capsys.readouterr().err
    assert "rejected" in err and reason in err
    assert not (tmp_path / "lb" / "entries").exists()


def test_naive_edits_are_rejected_too(tmp_path, lb_evals, capsys):
    folder = copy_eval(lb_evals, "random", tmp_path)
    forge(folder, lambda rows: rows[0]["steps"][0].update(reward=0.5), rehash=False)
    assert submit(folder, tmp_path / "lb") == 2
    assert "does not match its content hash" in capsys.readouterr().err

    folder = copy_eval(lb_evals, "random", tmp_path / "b")
    results = json.loads((folder / "results.json").read_text())
    results["per_task"]["1"] = 1.0
    results["metrics"]["avg_reward"]["value"] = 0.9
    (folder / "results.json").write_text(json.dumps(results))
    assert submit(folder, tmp_path / "lb") == 2
    assert "results.json per_task says 1.0 but the trajectory's final reward is" in capsys.readouterr().err


def test_an_extra_task_outside_the_eval_set_is_rejected(tmp_path, lb_evals, capsys):
    folder = copy_eval(lb_evals, "expert", tmp_path)
    six = read_trajs(lb_evals["expert6"])
    forge(folder, lambda rows: rows.append(six[5]))
    assert submit(folder, tmp_path / "lb") == 2
    assert "extra task(s) 5 are not in the eval set" in capsys.readouterr().err


def test_a_wrong_env_version_is_refused(tmp_path, lb_evals, capsys):
    folder = copy_eval(lb_evals, "expert", tmp_path)
    forge(folder, lambda rows: [r.update(env_version=r["env_version"].replace("seed-0", "seed-1")) for r in rows])
    assert submit(folder, tmp_path / "lb") == 2
    err = capsys.readouterr().err
    assert "environment version" in err and "seed-1" in err and "is not registered for webshop" in err


def test_missing_environment_data_is_rejected_unless_pointed_at_a_copy(tmp_path, lb_evals, small_catalog, capsys):
    folder = copy_eval(lb_evals, "expert", tmp_path)
    results = json.loads((folder / "results.json").read_text())
    results["provenance"]["env_kwargs"]["data"] = str(tmp_path / "moved-away")
    (folder / "results.json").write_text(json.dumps(results))
    assert submit(folder, tmp_path / "lb") == 2
    err = capsys.readouterr().err
    assert "cannot build the pinned environment 'webshop'" in err and "--data PATH" in err
    copy = shutil.copytree(small_catalog, tmp_path / "copy")
    assert submit(folder, tmp_path / "lb", "--data", str(copy)) == 0


def test_the_same_episodes_cannot_be_submitted_twice(tmp_path, lb_evals, capsys):
    board = tmp_path / "lb"
    assert submit(lb_evals["random"], board) == 0
    assert submit(lb_evals["random"], board, "--method", "another name") == 2
    assert "duplicate entry" in capsys.readouterr().err
    folder = copy_eval(lb_evals, "random", tmp_path)
    results = json.loads((folder / "results.json").read_text())
    results["provenance"]["wall_time_s"] += 1  # a different result file, the same episodes
    (folder / "results.json").write_text(json.dumps(results))
    assert submit(folder, board) == 2
    assert f"the same {LIMIT} episodes were already submitted as entry" in capsys.readouterr().err


def test_a_recipe_stage_folder_is_accepted_with_its_label(tmp_path, lb_evals, capsys):
    run = tmp_path / "runs" / "ipr-webshop" / "tiny-seed0-abcd1234"
    stage = Path(shutil.copytree(lb_evals["expert"], run / "eval_best_test"))
    (run / "recipe.resolved.json").write_text(json.dumps({"config_hash": "abcd1234", "recipe": {"name": "ipr-webshop", "method": "ipr", "preset": "tiny"}}))
    (stage / "manifest.json").write_text(json.dumps({"stage": "eval_best_test", "config_hash": "abcd1234", "label": "IPR (iteration 2)"}))
    assert submit(stage, tmp_path / "lb") == 0
    assert "accepted 'IPR (iteration 2)'" in capsys.readouterr().out
    (path,) = (tmp_path / "lb" / "entries").glob("*/*.json")
    recipe = json.loads(path.read_text())["submission"]["recipe"]
    assert recipe["name"] == "ipr-webshop" and recipe["stage"] == "eval_best_test" and recipe["run_id"] == run.name


def test_a_shared_stage0_folder_is_accepted_with_its_label(tmp_path, lb_evals, capsys):
    """SFT's evaluation lives in runs/_shared/<stage>-<key> (shared by every recipe): its label still names it."""
    stage = Path(shutil.copytree(lb_evals["expert"], tmp_path / "runs" / "_shared" / "eval_sft_test-0123abcd"))
    (stage / "manifest.json").write_text(json.dumps({"stage": "eval_sft_test", "config_hash": "0123abcd", "label": "SFT"}))
    assert submit(stage, tmp_path / "lb") == 0
    assert "accepted 'SFT'" in capsys.readouterr().out
    (path,) = (tmp_path / "lb" / "entries").glob("*/*.json")
    recipe = json.loads(path.read_text())["submission"]["recipe"]
    assert recipe["name"] == "stage0" and recipe["stage"] == "eval_sft_test" and recipe["run_id"] == stage.name


def test_a_stored_entry_edited_on_disk_is_refused(tmp_path, lb_evals, capsys):
    board = tmp_path / "lb"
    assert submit(lb_evals["expert"], board) == 0
    (path,) = (board / "entries").glob("*/*.json")
    entry = json.loads(path.read_text())
    entry["method"] = "renamed"
    entry["result"]["metrics"]["avg_reward"]["value"] = 0.99
    path.chmod(0o644)
    path.write_text(json.dumps(entry))
    capsys.readouterr()
    assert main(["leaderboard", "--leaderboard", str(board)]) == 0  # the board is built without it
    out = capsys.readouterr().out
    assert "left off the board: 1 stored file(s)" in out and "was edited after it was accepted" in out
    assert "renamed" not in (board / "README.md").read_text()
    assert main(["leaderboard", "--leaderboard", str(board), "--verify"]) == 2
    assert "was edited after it was accepted" in capsys.readouterr().err


def test_stored_entries_replay_again_with_verify(tmp_path, lb_evals, capsys):
    board = tmp_path / "lb"
    assert submit(lb_evals["expert"], board) == 0
    assert main(["leaderboard", "--leaderboard", str(board), "--verify"]) == 0
    assert "replays exactly" in capsys.readouterr().out


def test_malformed_replies_replay_as_steps_that_never_reached_the_environment(tmp_path, small_catalog, monkeypatch, capsys):
    import harness.policies
    from harness.evaluation.evaluator import EvalConfig, evaluate
    from harness.policies.scripted import ReplayPolicy

    replies = ["I am thinking.", "Thought: look\nAction: search[shoes]", "no action here"]  # then empty replies
    monkeypatch.setattr(harness.policies, "make_policy", lambda spec, **kw: ReplayPolicy({"0": replies, "1": replies[1:]}))
    cfg = EvalConfig(env_kwargs={"data": str(small_catalog), "nouns": "heuristic"}, policy="logged", limit=LIMIT,
                     output=str(tmp_path / "logged"), progress=False)  # fmt: skip
    evaluate(cfg)
    rows = read_trajs(tmp_path / "logged")
    assert rows[0]["steps"][0]["action"] is None and rows[0]["stop_reason"] == "max_steps"
    assert submit(tmp_path / "logged", tmp_path / "lb") == 0

    forge(tmp_path / "logged", lambda rows: rows[0]["steps"][0].update(observation="Fine."))
    assert submit(tmp_path / "logged", tmp_path / "lb2") == 2
    assert "step 1: a reply without an action gets the invalid-format answer" in capsys.readouterr().err


def test_markdown_and_terminal_tables_keep_submitted_names_inert(tmp_path, lb_evals, capsys):
    from harness.leaderboard import publish

    assert submit(lb_evals["expert"], tmp_path / "lb", "--method", "A | <img src=x>\nB") == 2  # a name is one line
    assert "the method name contains the control character U+000A" in capsys.readouterr().err
    assert submit(lb_evals["expert"], tmp_path / "lb", "--method", "A | <img src=x> B") == 0
    terminal = publish(tmp_path / "lb")
    readme = (tmp_path / "lb" / "README.md").read_text()
    assert "A \\| &lt;img src=x&gt; B" in readme and "<img" not in readme
    assert "A | <img src=x> B" in terminal
