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
