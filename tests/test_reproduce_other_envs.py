"""ipr-intercode-sql and ipr-alfworld in miniature: the same pipeline over the other two environments,
with their own splits (ALFWorld: chosen on seen, tested on unseen). Skip without their data/packages."""

from __future__ import annotations

import json

import pytest
from miniature import require_alfworld, run_dir, stage_folder

from harness.cli import main
from harness.envs.shared_data import DataNotFoundError
from harness.execution.checkpoints import read_jsonl

pytestmark = pytest.mark.slow

SHRINK = {
    "model.init_preset": "micro",
    "model.copy_pretraining.steps": 0,
    "iterations": 1,
    "sft.epochs": 1,
    "sft.batch_size": 8,
    "sft.per_device_batch_size": 8,
    "estimate.n": 1,
    "explore.max_new_tokens": 12,
    "evaluate.max_new_tokens": 12,
    "train.batch_size": 4,
    "train.per_device_batch_size": 4,
    "train.epochs": 1,
    "data.explore_tasks": 2,
    "data.valid_tasks": 2,
    "data.test_tasks": 2,
}


def reproduce(recipe: str, runs, extra: dict) -> int:
    args = ["reproduce", recipe, "--runs-dir", str(runs)]
    for k, v in {**SHRINK, **extra}.items():
        args += ["--set", f"{k}={v}"]
    return main(args)


def check_run(run, valid_split: str, test_split: str) -> None:
    for stage in ("iter1/explore", "iter1/estimate", "iter1/pairs", "iter1/train", "select", "eval_best_test", "report"):
        assert (run / stage / "manifest.json").exists(), stage
    experts = read_jsonl(stage_folder(run, "expert") / "trajectories.jsonl")
    assert experts and all(e["success"] if "success" in e else e["final_reward"] > 0 for e in experts)
    valid = json.loads((stage_folder(run, "eval_sft_valid") / "results.json").read_text())
    test = json.loads((run / "eval_best_test" / "results.json").read_text())
    assert valid["split"] == valid_split and test["split"] == test_split
    assert len(test["per_task"]) == 2


def test_ipr_intercode_sql_runs_on_its_splits(tmp_path, monkeypatch):
    pytest.importorskip("sqlglot", reason="sqlglot (the MySQL-to-SQLite translator) is not installed")
    from harness.envs.intercode_sql import load_world

    try:
        load_world(None, "sqlite")
    except DataNotFoundError as e:
        pytest.skip(f"InterCodeSQL data is absent (CI has it): {e}")
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    assert reproduce("ipr-intercode-sql", tmp_path / "runs", {"model.corpus_tasks": 30, "data.train_tasks": 16}) == 0
    check_run(run_dir(tmp_path / "runs", "ipr-intercode-sql"), "valid", "test")


def test_ipr_alfworld_is_chosen_on_seen_and_tested_on_unseen(tmp_path, monkeypatch):
    require_alfworld()
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    extra = {"model.corpus_tasks": 4, "data.train_tasks": 4, "data.explore_tasks": 1, "env.max_steps": 8}
    assert reproduce("ipr-alfworld", tmp_path / "runs", extra) == 0
    check_run(run_dir(tmp_path / "runs", "ipr-alfworld"), "seen", "unseen")


def test_sft_and_stepagent_implicit_on_intercode_sql_share_stage0_and_compare(tmp_path, monkeypatch, capsys):
    """Two methods of the InterCodeSQL grid in one runs folder: SFT is trained once, StepAgent-Implicit
    runs its cycle on SQL states, and `harness compare` pairs both with that one SFT on the test tasks."""
    pytest.importorskip("sqlglot", reason="sqlglot (the MySQL-to-SQLite translator) is not installed")
    from harness.envs.intercode_sql import load_world

    try:
        load_world(None, "sqlite")
    except DataNotFoundError as e:
        pytest.skip(f"InterCodeSQL data is absent (CI has it): {e}")
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    runs, same = tmp_path / "runs", {"model.corpus_tasks": 30, "data.train_tasks": 16}
    assert reproduce("sft-intercode-sql", runs, {**same, "iterations": 0}) == 0
    assert reproduce("stepagent-implicit-intercode-sql", runs, {**same, "inspect.max_new_tokens": 12}) == 0
    assert "[sft] complete, skipped" in capsys.readouterr().out  # the second method reused the first one's SFT
    assert len(list((runs / "_shared").glob("sft-*"))) == 1

    sft_run, step_run = run_dir(runs, "sft-intercode-sql"), run_dir(runs, "stepagent-implicit-intercode-sql")
    reports = [json.loads((r / "report" / "manifest.json").read_text()) for r in (sft_run, step_run)]
    assert reports[0]["test_results"]["SFT"] == reports[1]["test_results"]["SFT"]
    experts = {t["task_id"]: t for t in read_jsonl(stage_folder(step_run, "expert") / "trajectories.jsonl")}
    inspected = read_jsonl(step_run / "iter1" / "inspect" / "inspected.jsonl")
    assert inspected and {r["task_id"] for r in inspected} <= set(experts)
    stats = json.loads((step_run / "iter1" / "pairs" / "manifest.json").read_text())["stats"]
    pairs = read_jsonl(step_run / "iter1" / "pairs" / "pairs.jsonl")
    assert stats["pairs"] + stats["equal_dropped"] == len(inspected) == len(pairs) + stats["equal_dropped"]
    for p in pairs:  # the expert's SQL action chosen over the agent's, after the same expert prefix
        assert p["chosen"] == [{"role": "assistant", "content": experts[p["task_id"]]["steps"][p["step_index"]]["text"]}]
        assert len(p["rejected"]) == 1 and p["rejected"] != p["chosen"]
    test = json.loads((step_run / "eval_best_test" / "results.json").read_text())
    assert (test["env_id"], test["split"], len(test["per_task"])) == ("intercode_sql", "test", 2)

    assert main(["compare", str(sft_run), str(step_run), "--output", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    assert out.count("| SFT ") == 1 and "| StepAgent-Implicit " in out
    data = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert data["tasks"] == 2 and {r["method"] for r in data["rows"]} == {"SFT", "StepAgent-Implicit"}
