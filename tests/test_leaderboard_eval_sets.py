"""Only registered eval sets and step-cap protocols are ranked; ranks come with paired-bootstrap intervals.

The session fixture registers the small catalog's first 4 and first 6 test goals under IPR's
protocol (10 steps). Anything else a submitter could choose — another ``--limit``, another step
budget, an environment option — is refused before replay, naming the registered sets.
"""

from __future__ import annotations

import json
import re

import pytest
from test_leaderboard_submit import LIMIT, copy_eval, lb_evals, submit, with_eval_sets  # noqa: F401

from harness.cli import main
from harness.leaderboard.ranking import point_ranks, rank_intervals


def evaluate_to(folder, small_catalog, policy="expert", limit=LIMIT, **env_kwargs):
    from harness.evaluation.evaluator import EvalConfig, evaluate

    kwargs = {"data": str(small_catalog), "nouns": "heuristic", **env_kwargs}
    evaluate(EvalConfig(env_kwargs=kwargs, policy=policy, limit=limit, output=str(folder), progress=False))
    return folder


def test_a_limit_that_picks_a_subset_is_refused_naming_the_registered_sets(tmp_path, lb_evals, small_catalog, capsys):
    folder = evaluate_to(tmp_path / "three", small_catalog, limit=3)
    assert submit(folder, tmp_path / "lb") == 2
    err = capsys.readouterr().err
    assert "3 tasks of split 'test' (--limit 3)" in err and "a subset chosen by the submitter is not ranked" in err
    assert "small-test-4 (test, 4 tasks, IPR protocol: max 10 steps)" in err
    assert not (tmp_path / "lb" / "entries").exists()


def test_a_step_budget_of_another_protocol_is_refused(tmp_path, lb_evals, small_catalog, capsys):
    folder = evaluate_to(tmp_path / "five", small_catalog, max_steps=5)
    assert submit(folder, tmp_path / "lb") == 2
    err = capsys.readouterr().err
    assert "step budget max_steps=5 is not a registered protocol for this eval set (registered: 10 (IPR))" in err


def test_environment_options_of_the_submitters_choosing_are_refused(tmp_path, lb_evals, capsys):
    folder = copy_eval(lb_evals, "expert", tmp_path)
    results = json.loads((folder / "results.json").read_text())
    results["provenance"]["env_kwargs"]["nouns"] = "auto"  # the same environment version, an option not registered
    (folder / "results.json").write_text(json.dumps(results))
    assert submit(folder, tmp_path / "lb") == 2
    assert 'environment options not of eval set small-test-4: nouns="auto" (registered "heuristic")' in capsys.readouterr().err

    results["provenance"]["env_kwargs"].update(nouns="heuristic", max_steps=10)  # the protocol's cap, stated: fine
    (folder / "results.json").write_text(json.dumps(results))
    assert submit(folder, tmp_path / "lb") == 0


def test_an_environment_with_no_registered_set_is_refused(tmp_path, lb_evals, capsys):
    board = with_eval_sets(tmp_path / "lb")
    registry = json.loads((board / "eval_sets.json").read_text())
    registry["eval_sets"] = {}
    (board / "eval_sets.json").write_text(json.dumps(registry))
    assert submit(lb_evals["expert"], board) == 2
    assert "this leaderboard registers no eval set for environment 'webshop'" in capsys.readouterr().err


def test_a_stored_entry_of_a_set_no_longer_registered_is_left_off_with_the_reason(tmp_path, lb_evals, capsys):
    board = tmp_path / "lb"
    assert submit(lb_evals["expert6"], board) == 0
    assert submit(lb_evals["expert"], board) == 0
    registry = json.loads((board / "eval_sets.json").read_text())
    del registry["eval_sets"]["small-test-6"]
    (board / "eval_sets.json").write_text(json.dumps(registry))
    capsys.readouterr()
    assert main(["leaderboard", "--leaderboard", str(board)]) == 0
    out = capsys.readouterr().out
    assert "small-test-4" in out and "(6 tasks)" not in out.split("left off the board")[0]
    assert "is not a registered eval set" in out.split("left off the board")[1]
    assert main(["leaderboard", "--leaderboard", str(board), "--verify"]) == 2  # and --verify names it


def test_registering_an_eval_set_replays_it_and_refuses_what_does_not_fit(tmp_path, lb_evals, small_catalog, capsys):
    board = tmp_path / "lb"
    register = lambda folder, name, protocol="ipr": main(["leaderboard", "--leaderboard", str(board), "--register-eval-set",  # noqa: E731
                                                          str(folder), "--name", name, "--protocol", protocol])  # fmt: skip
    assert register(lb_evals["expert"], "mini") == 0
    registry = json.loads((board / "eval_sets.json").read_text())
    assert registry["eval_sets"]["mini"]["n_tasks"] == LIMIT and registry["eval_sets"]["mini"]["env_kwargs"] == {"nouns": "heuristic"}
    assert set(registry["protocols"]) == {"ipr"} and registry["protocols"]["ipr"]["max_steps"]["alfworld"] == 20
    capsys.readouterr()
    assert register(lb_evals["expert"], "mini-again") == 2
    assert "already registered as 'mini'" in capsys.readouterr().err
    assert register(lb_evals["expert6"], "mini") == 2
    assert "name 'mini' is already registered" in capsys.readouterr().err
    assert register(lb_evals["expert6"], "six", protocol="eto") == 2  # ETO caps ALFWorld only
    assert "protocol 'eto' caps it at nothing" in capsys.readouterr().err
    assert register(lb_evals["expert6"], "Six Goals") == 2
    assert "use lower-case letters" in capsys.readouterr().err

    forged = copy_eval(lb_evals, "expert6", tmp_path)  # a set registered from a result that does not replay
    rows = [json.loads(line) for line in (forged / "trajectories.jsonl").read_text().splitlines()]
    (forged / "trajectories.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows[:-1]))
    assert register(forged, "six") == 2
    assert "rejected" in capsys.readouterr().err
    assert "six" not in json.loads((board / "eval_sets.json").read_text())["eval_sets"]


def test_a_malformed_registry_is_a_clear_error(tmp_path, lb_evals, capsys):
    board = tmp_path / "lb"
    board.mkdir()
    (board / "eval_sets.json").write_text('{"protocols": {}, "eval_sets": {"x": {"env_id": "webshop", "protocol": "ipr"}}}')
    assert submit(lb_evals["expert"], board) == 2
    err = capsys.readouterr().err
    assert "cannot read the leaderboard's eval sets" in err and "eval_sets.json is malformed" in err and "Traceback" not in err


def test_point_ranks_share_the_better_rank_on_ties():
    assert point_ranks([0.5, 0.7, 0.5, 0.1]) == [2, 1, 2, 4]


def test_rank_intervals_separate_what_the_tasks_separate_and_nothing_more():
    n = 100
    strong = {str(i): 1.0 if i < 80 else 0.0 for i in range(n)}
    weak = {str(i): 1.0 if i < 20 else 0.0 for i in range(n)}
    assert rank_intervals([strong, weak]) == [(1, 1), (2, 2)]
    # paired: one task better and every other task equal puts it ahead in every resample that draws that task
    better_by_one = {str(i): 1.0 if i < 21 else 0.0 for i in range(n)}
    assert rank_intervals([better_by_one, weak]) == [(1, 1), (1, 2)]  # a resample without task 20 is a tie
    # 52% vs 50%, won on different tasks: the order is not established by 100 tasks
    half = {str(i): float(i % 2) for i in range(n)}
    other_half = {str(i): float((i + 1) % 2) if i < 96 else 1.0 for i in range(n)}
    assert rank_intervals([other_half, half]) == [(1, 2), (1, 2)]
    assert rank_intervals([strong, other_half, half, weak]) == [(1, 1), (2, 3), (2, 3), (4, 4)]


def test_rank_intervals_need_one_eval_set():
    with pytest.raises(ValueError, match="same tasks"):
        rank_intervals([{"a": 1.0}, {"b": 1.0}])


def test_the_board_shows_sections_by_eval_set_with_rank_intervals(tmp_path, lb_evals, capsys):
    board = tmp_path / "lb"
    assert submit(lb_evals["expert"], board, "--method", "expert") == 0
    assert submit(lb_evals["random"], board, "--method", "random") == 0
    capsys.readouterr()
    assert main(["leaderboard", "--leaderboard", str(board)]) == 0
    out = capsys.readouterr().out
    assert "Small catalog test (4 goals) · 4 tasks · max 10 steps (IPR protocol)" in out
    assert "eval set small-test-4" in out and "IPR protocol: Xiong et al. 2024" in out
    assert re.search(r"^\s*1\s+1\s+expert\s", out, re.MULTILINE) and re.search(r"^\s*2\s+2\s+random\s", out, re.MULTILINE)
    readme = (board / "README.md").read_text()
    assert "rank 95% interval" in readme and "Eval set `small-test-4`" in readme
