"""`harness reproduce ipr-webshop` in miniature: every stage runs, publishes, reports, and resumes."""

from __future__ import annotations

import json

import pytest
from miniature import mini_args, mini_catalog, run_dir, stage_folder  # noqa: F401 (fixture)

from harness.cli import main
from harness.pipeline import stages
from harness.execution.checkpoints import read_jsonl

pytestmark = pytest.mark.slow


def test_ipr_pipeline_runs_publishes_and_resumes(tmp_path, mini_catalog, monkeypatch, capsys):
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    args = mini_args(mini_catalog, tmp_path / "a")
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "# ipr-webshop" in out and "IPR (iteration 1, chosen on validation)" in out
    a = run_dir(tmp_path / "a")
    for stage in ("model", "expert", "sft", "eval_sft_test", "iter1/explore", "iter1/estimate", "iter1/pairs",
                  "iter1/train", "iter1/eval_valid", "select", "eval_best_test", "report"):  # fmt: skip
        assert (stage_folder(a, stage) / "manifest.json").exists(), stage
    explored = read_jsonl(a / "iter1" / "explore" / "explored.jsonl")
    experts = read_jsonl(stage_folder(a, "expert") / "trajectories.jsonl")
    assert len(experts) == 20 and all(e["final_reward"] == 1.0 for e in experts)
    # every prefix j = 0..n-1 of the 3 explored expert trajectories
    by_task = {e["task_id"]: len(e["steps"]) for e in experts}
    assert sorted(r["prefix_steps"] for r in explored if r["task_id"] == explored[0]["task_id"]) == list(range(by_task[explored[0]["task_id"]]))
    pairs = read_jsonl(a / "iter1" / "pairs" / "pairs.jsonl")
    assert pairs and all(p["builder"] == "ipr" for p in pairs)
    assert (a / "report" / "report.md").exists() and (a / "report" / "reward_per_iteration.png").exists()
    pub = json.loads((a / "iter1" / "pairs" / "manifest.json").read_text())["published"]
    assert pub["repo"] == "harness/ipr-webshop" and pub["rows"] == len(pairs)

    # A second run that is killed in the middle of iteration 1, then re-run with the same command,
    # ends with exactly the same data and numbers as the uninterrupted run.
    real = stages.train
    calls = {"n": 0}

    def killed(*a, **k):
        calls["n"] += 1
        raise KeyboardInterrupt("simulated kill")

    monkeypatch.setattr(stages, "train", killed)
    args_b = mini_args(mini_catalog, tmp_path / "b")
    with pytest.raises(KeyboardInterrupt):
        main(args_b)
    b = run_dir(tmp_path / "b")
    assert (b / "iter1" / "pairs" / "manifest.json").exists() and not (b / "iter1" / "train" / "manifest.json").exists()
    monkeypatch.setattr(stages, "train", real)
    assert main(args_b) == 0
    assert "[model] complete, skipped" in capsys.readouterr().out
    assert read_jsonl(b / "iter1" / "pairs" / "pairs.jsonl") == pairs
    for stage in ("eval_sft_test", "eval_best_test"):
        ra = json.loads((stage_folder(a, stage) / "results.json").read_text())
        rb = json.loads((stage_folder(b, stage) / "results.json").read_text())
        assert ra["per_task"] == rb["per_task"] and ra["metrics"] == rb["metrics"]


def test_bad_recipe_values_are_named(capsys):
    assert main(["reproduce", "ipr-webshop", "--set", "train.betta=0.2", "--dry-run"]) == 2
    assert "unknown key 'train.betta' (did you mean 'beta'?)" in capsys.readouterr().err
    assert main(["reproduce", "ipr-webshop", "--set", "iterations=two", "--dry-run"]) == 2
    assert "'iterations' must be an integer" in capsys.readouterr().err
    assert main(["reproduce", "ipr-webshop", "--preset", "huge", "--dry-run"]) == 2
    assert "unknown preset 'huge'" in capsys.readouterr().err


def test_dry_run_prints_plan_and_hash(capsys):
    assert main(["reproduce", "ipr-webshop", "--preset", "paper", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "meta-llama/Llama-2-7b-hf" in out and "config hash" in out and "iter4/train" in out


def test_seed_flag_is_the_recipe_seed_and_changes_the_hash(capsys):
    def hash_of(*extra: str) -> str:
        assert main(["reproduce", "ipr-webshop", "--dry-run", *extra]) == 0
        return capsys.readouterr().out.rsplit("config hash ", 1)[1].split()[0]

    assert hash_of("--seed", "3") == hash_of("--set", "seed=3") != hash_of()
    assert hash_of("--seed", "42") == hash_of()  # 42 is the recipe's own seed


def test_dry_run_shows_the_seed_sft_trains_with_and_rejects_a_separate_sft_seed(capsys):
    assert main(["reproduce", "ipr-webshop", "--seed", "7", "--dry-run"]) == 0
    out = capsys.readouterr().out
    plan = json.loads(out.split("\nrecipe ", 1)[0])
    assert "seed" not in plan["sft"] and plan["seed"] == 7 and ", seed 7, config hash" in out
    # Setting sft.seed used to be silently overridden by the top-level seed: now it is an error naming the fix.
    assert main(["reproduce", "ipr-webshop", "--set", "sft.seed=3", "--dry-run"]) == 2
    err = capsys.readouterr().err
    assert "'sft.seed' is not a recipe setting" in err and "--seed N" in err
