"""Spot checks and the expert flag: what replay cannot tell — which policy played an entry's episodes.

A tiny from-scratch model plays a few WebShop test tasks; its result is submitted to a fresh
leaderboard and spot-checked by regenerating episodes with the model the result names. A second
tiny model (other weights, same tokenizer) stands in for a false claim.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from test_leaderboard_submit import LIMIT, lb_evals, with_eval_sets  # noqa: F401 (the session fixture of evaluator outputs)

from harness.cli import main
from harness.leaderboard.expert_match import expert_match_status
from harness.leaderboard.spot_check import file_sha256, spot_check_status
from harness.types import Trajectory

TASKS = LIMIT  # the registered small-test-4 eval set


@pytest.fixture(scope="session")
def other_model(tiny_model, tmp_path_factory) -> Path:
    """A copy of the tiny model with other weights (the same tokenizer, config and chat template)."""
    import torch
    from safetensors.torch import load_file, save_file

    out = Path(shutil.copytree(tiny_model, tmp_path_factory.mktemp("other") / "model"))
    weights = load_file(str(out / "model.safetensors"))
    g = torch.Generator().manual_seed(1)
    save_file({k: v + 0.05 * torch.randn(v.shape, generator=g) for k, v in weights.items()}, str(out / "model.safetensors"))
    return out


@pytest.fixture(scope="session")
def model_eval(lb_evals, tiny_model, tiny_hf, small_catalog, tmp_path_factory) -> Path:
    """The tiny model's evaluator output on the first test tasks of the small catalog (greedy)."""
    from harness.evaluation.evaluator import EvalConfig, evaluate

    out = tmp_path_factory.mktemp("model-eval") / "tiny"
    cfg = EvalConfig(env_kwargs={"data": str(small_catalog), "nouns": "heuristic"}, policy=f"hf:{tiny_model}",
                     limit=TASKS, seed=3, max_new_tokens=24, output=str(out), progress=False)  # fmt: skip
    evaluate(cfg, policy=tiny_hf)
    return out


def submit(folder: Path, board: Path) -> dict:
    assert main(["submit", str(folder), "--leaderboard", str(with_eval_sets(board)), "--no-score"]) == 0
    return newest_entry(board)


def newest_entry(board: Path) -> dict:
    entries = [json.loads(p.read_text()) for p in (board / "entries").glob("*/*.json")]
    return max(entries, key=lambda e: e["submission"]["submitted_at"])


def spot(board: Path, entry: dict, *extra: str) -> int:
    return main(["leaderboard", "--leaderboard", str(board), "--spot-check", entry["entry_id"], *extra])


def claim_model(folder: Path, model: Path) -> None:
    """Edit results.json so that it names ``model`` (path and weights sha256) as its policy."""
    path = folder / "results.json"
    result = json.loads(path.read_text())
    policy = result["provenance"]["policy"]
    policy.update(spec=f"hf:{model}", model=str(model), resolved=str(model),
                  weights_sha256={"model.safetensors": file_sha256(model / "model.safetensors")})  # fmt: skip
    result["policy"] = policy["spec"]
    path.write_text(json.dumps(result))


def test_an_entry_regenerated_with_its_own_model_agrees(tmp_path, model_eval, tiny_model, capsys):
    board = tmp_path / "lb"
    entry = submit(model_eval, board)
    capsys.readouterr()
    assert spot(board, entry, "--samples", "1", "--seed", "5", "--model", str(tiny_model)) == 0  # one episode alone
    out = capsys.readouterr().out
    assert "episodes with identical actions 1/1 (replies too: 1)" in out and "AGREES" in out
    assert spot(board, entry, "--samples", str(TASKS)) == 0  # every episode, one batch; the recorded model path
    record = json.loads((board / "spot_checks" / f"{entry['entry_id']}.json").read_text())
    assert record["summary"]["agrees"] and record["samples"] == TASKS and record["seed"] == 0
    assert record["model"]["weights_sha256"] == entry["result"]["provenance"]["policy"]["weights_sha256"]
    assert all(e["first_difference"] is None and e["reward_equal"] for e in record["episodes"])
    assert record["harness_git"]["commit"] and record["checked_at"] and len(record["content_hash"]) == 64
    assert spot_check_status(board, entry).describe() == f"spot-checked {TASKS}/{TASKS} agree"
    capsys.readouterr()
    assert main(["leaderboard", "--leaderboard", str(board)]) == 0  # the board shows it
    assert f"spot-checked {TASKS}/{TASKS} agree" in capsys.readouterr().out
    prov = entry["result"]["provenance"]  # what the evaluator records so that an episode can be regenerated
    assert {"config.json", "tokenizer.json", "chat_template.jinja"} <= set(prov["policy"]["files_sha256"])
    assert prov["prompt"]["task_description_hash"] and prov["sampling"]["stop"] == [] and prov["seed"] == 3


def test_an_entry_claiming_another_model_is_accepted_but_its_spot_check_disagrees(tmp_path, model_eval, other_model, capsys):
    folder = Path(shutil.copytree(model_eval, tmp_path / "claimed"))
    claim_model(folder, other_model)
    board = tmp_path / "lb"
    entry = submit(folder, board)  # replay only checks the environment's answers: accepted
    capsys.readouterr()
    assert spot(board, entry, "--samples", "2") == 1
    out = capsys.readouterr().out
    assert "DISAGREES" in out and "replies too: 0" in out
    status = spot_check_status(board, entry)
    assert not status.agrees and status.describe().startswith("spot check disagrees")


def test_other_weights_than_the_recorded_ones_are_refused(tmp_path, model_eval, tiny_model, other_model, capsys):
    board = tmp_path / "lb"
    entry = submit(model_eval, board)
    capsys.readouterr()
    assert spot(board, entry, "--samples", "1", "--model", str(other_model)) == 2
    err = capsys.readouterr().err
    assert f"the weights in {other_model} are not the model entry {entry['entry_id']} names" in err
    assert "sha256 of model.safetensors: recorded" in err
    retemplated = Path(shutil.copytree(tiny_model, tmp_path / "retemplated"))
    (retemplated / "chat_template.jinja").write_text((retemplated / "chat_template.jinja").read_text() + " ")
    assert spot(board, entry, "--samples", "1", "--model", str(retemplated)) == 2
    assert "has the recorded weights but not the recorded chat_template.jinja" in capsys.readouterr().err
    assert not (board / "spot_checks").exists()


def test_a_tampered_entry_is_not_spot_checked(tmp_path, model_eval, capsys):
    board = tmp_path / "lb"
    entry = submit(model_eval, board)
    (path,) = (board / "entries").glob("*/*.json")
    path.chmod(0o644)
    path.write_text(json.dumps({**entry, "method": "a better name"}))  # not resealed
    capsys.readouterr()
    assert spot(board, entry, "--samples", "1") == 2
    assert "was edited after it was accepted" in capsys.readouterr().err


def test_an_edited_spot_check_record_fails_verify(tmp_path, model_eval, capsys):
    board = tmp_path / "lb"
    entry = submit(model_eval, board)
    assert spot(board, entry, "--samples", "1") == 0
    assert main(["leaderboard", "--leaderboard", str(board), "--verify"]) == 0
    assert f"spot_checks record of entry {entry['entry_id']}: intact" in capsys.readouterr().out

    path = board / "spot_checks" / f"{entry['entry_id']}.json"
    record = json.loads(path.read_text())
    record["episodes"][0]["reward"] = 1.0  # a better-looking episode, content hash left as it was
    path.write_text(json.dumps(record))
    assert main(["leaderboard", "--leaderboard", str(board), "--verify"]) == 2
    assert "was edited after it was written" in capsys.readouterr().err
    assert spot_check_status(board, entry).describe() == "spot-check record invalid"


def test_the_expert_flag_is_raised_for_expert_episodes_under_another_label(tmp_path, lb_evals, model_eval, capsys):  # noqa: F811 (fixture)
    relabelled = Path(shutil.copytree(lb_evals["expert"], tmp_path / "relabelled"))
    result = json.loads((relabelled / "results.json").read_text())
    result["policy"] = result["provenance"]["policy"]["spec"] = "hf:my-own-model"
    (relabelled / "results.json").write_text(json.dumps(result))
    rows = [json.loads(line) for line in (relabelled / "trajectories.jsonl").read_text().splitlines()]
    for r in rows:  # and disguised: WebShop reads click[B0Z1S9NWDO] as click[b0z1s9nwdo]
        for step in r["steps"]:
            if step["action"].startswith("click["):
                step["text"] = step["text"].replace(step["action"], step["action"].lower())
                step["action"] = step["action"].lower()
    rows = [Trajectory.from_dict({**{k: v for k, v in r.items() if k != "id"}, "policy": "hf:my-own-model"}).to_dict()
            for r in rows]  # fmt: skip
    (relabelled / "trajectories.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))

    boards = {name: tmp_path / name for name in ("expert", "relabelled", "model")}
    entries = {"expert": submit(lb_evals["expert"], boards["expert"]), "relabelled": submit(relabelled, boards["relabelled"]),
               "model": submit(model_eval, boards["model"])}  # fmt: skip
    for name, board in boards.items():
        assert main(["leaderboard", "--leaderboard", str(board), "--expert-match"]) == 0
        assert (board / "expert_match" / f"{entries[name]['entry_id']}.json").exists()
    status = {name: expert_match_status(boards[name], entries[name]) for name in boards}
    assert status["relabelled"].flagged and status["relabelled"].fraction == 1.0
    assert status["relabelled"].describe().startswith("flagged:")
    assert not status["expert"].flagged and status["expert"].fraction == 1.0  # the expert itself, as expected
    assert not status["model"].flagged and status["model"].fraction < 0.9
    assert main(["leaderboard", "--leaderboard", str(boards["relabelled"]), "--verify"]) == 0
    for board in boards.values():
        assert main(["leaderboard", "--leaderboard", str(board)]) == 0
    assert "flagged: " in (boards["relabelled"] / "README.md").read_text()  # the board shows the flag
    assert "flagged" not in (boards["expert"] / "README.md").read_text()
