"""Every method's recipe in miniature, in one runs folder: stage 0 is trained once and shared, each
method's stages produce what the method defines, and `harness compare` lines them up on the same tasks."""

from __future__ import annotations

import json

import pytest
from miniature import mini_args, mini_catalog, run_dir, stage_folder  # noqa: F401 (fixture)

from harness.cli import main
from harness.execution.checkpoints import read_jsonl
from harness.types import Trajectory

pytestmark = pytest.mark.slow

METHOD_SETS = {
    "sft-webshop": {"iterations": 0},
    "ipr-webshop": {},
    "eto-webshop": {"iterations": 2},  # two iterations: their datasets must not collide in the registry
    "rft-webshop": {"rft.samples": 2, "rft.max_new_tokens": 16, "rft.success_threshold": 0.0},
    "stepagent-implicit-webshop": {"inspect.max_new_tokens": 16},
    "stepagent-inverse-webshop": {
        "inspect.max_new_tokens": 16,
        "discriminator.epochs": 1,
        "discriminator.batch_size": 8,
        "discriminator.per_device_batch_size": 8,
        "policy_gradient.max_new_tokens": 16,
        "policy_gradient.num_generations": 2,
        "policy_gradient.batch_size": 4,
        "policy_gradient.per_device_batch_size": 8,
        "policy_gradient.max_prompt_length": 4096,
    },
}


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """All six recipes run once into one runs folder (module-scoped: the tests below only read it)."""
    from harness.envs.webshop.generator import write_catalog

    root = tmp_path_factory.mktemp("methods")
    catalog = write_catalog(root / "cat", n_products=80, n_goals=1520, seed=3)
    mp = pytest.MonkeyPatch()
    mp.setenv("HARNESS_REGISTRY", str(root / "registry"))
    try:
        for recipe, extra in METHOD_SETS.items():
            assert main(mini_args(catalog, root / "runs", recipe, extra)) == 0, recipe
    finally:
        mp.undo()
    return root / "runs"


def test_stage0_is_trained_once_for_all_methods(runs):
    shared = runs / "_shared"
    assert len(list(shared.glob("sft-*"))) == 1 and len(list(shared.glob("eval_sft_test-*"))) == 1
    sft = json.loads((stage_folder(run_dir(runs, "sft-webshop"), "sft") / "manifest.json").read_text())["path"]
    for recipe in METHOD_SETS:
        report = json.loads((run_dir(runs, recipe) / "report" / "manifest.json").read_text())
        assert report["test_results"]["SFT"] == str(stage_folder(run_dir(runs, recipe), "eval_sft_test").resolve())
    # the SFT baseline has no iterations and no selection
    assert not (run_dir(runs, "sft-webshop") / "select").exists()
    assert sft.endswith("model")


def test_eto_prefers_the_expert_trajectory_to_worse_agent_episodes(runs):
    run = run_dir(runs, "eto-webshop")
    explored = read_jsonl(run / "iter1" / "explore" / "explored.jsonl")
    assert explored and all(r["prefix_steps"] == 0 for r in explored)  # whole episodes only
    pairs = read_jsonl(run / "iter1" / "pairs" / "pairs.jsonl")
    assert pairs and all(p["level"] == "outcome" and p["winner"] == "expert" for p in pairs)
    assert all(p["chosen_reward"] - p["rejected_reward"] > 0.01 for p in pairs)
    train = json.loads((run / "iter1" / "train" / "manifest.json").read_text())
    assert train["trained"] and train["pairs"] == len(pairs)
    tags = [json.loads((run / f"iter{i}" / s / "manifest.json").read_text())["published"]["tag"]
            for i in (1, 2) for s in ("explore", "pairs")]  # fmt: skip
    assert len(set(tags)) == 4 and "iter2-explore" in tags[2]


def test_rft_fine_tunes_on_expert_plus_kept_agent_episodes(runs):
    run = run_dir(runs, "rft-webshop")
    explored = [Trajectory.from_dict(r) for r in read_jsonl(run / "iter1" / "explore" / "explored.jsonl")]
    assert len(explored) == 3 * 2  # 3 tasks x 2 samples
    kept = {t.id for t in explored}  # success_threshold 0: every distinct episode is kept
    sft = json.loads((run / "iter1" / "sft" / "manifest.json").read_text())
    assert sft["kept_agent_episodes"] == len(kept)
    assert sft["conversations"] == 20 + len(kept)


def test_stepagent_implicit_pairs_contrast_one_action_at_an_expert_prefix(runs):
    run = run_dir(runs, "stepagent-implicit-webshop")
    experts = {e["task_id"]: e for e in read_jsonl(stage_folder(run, "expert") / "trajectories.jsonl")}
    inspected = read_jsonl(run / "iter1" / "inspect" / "inspected.jsonl")
    # one sampled action after every expert prefix j = 0..n-1 of the 3 chosen tasks
    assert len(inspected) == sum(len(experts[t]["steps"]) for t in {r["task_id"] for r in inspected})
    assert all(len(r["steps"]) == r["prefix_steps"] + 1 for r in inspected)
    pairs = read_jsonl(run / "iter1" / "pairs" / "pairs.jsonl")
    stats = json.loads((run / "iter1" / "pairs" / "manifest.json").read_text())["stats"]
    assert stats["pairs"] + stats["equal_dropped"] == len(inspected)
    for p in pairs:
        j = p["step_index"]
        assert len(p["prompt"]) == 3 + 2 * j and p["prompt"][-1]["role"] == "user"
        assert p["chosen"] == [{"role": "assistant", "content": experts[p["task_id"]]["steps"][j]["text"]}]
        assert len(p["rejected"]) == 1 and p["rejected"] != p["chosen"]


def test_stepagent_inverse_records_its_reward_convention_and_reference(runs):
    run = run_dir(runs, "stepagent-inverse-webshop")
    disc = json.loads((run / "iter1" / "discriminator" / "manifest.json").read_text())
    assert "P(expert|s,a)" in disc["reward_convention"] and 0.0 <= disc["train_accuracy"] <= 1.0
    policy = json.loads((run / "iter1" / "policy" / "manifest.json").read_text())
    inspected = read_jsonl(run / "iter1" / "inspect" / "inspected.jsonl")
    assert policy["states"] == len({(r["task_id"], r["prefix_steps"]) for r in inspected})
    assert policy["reference"].endswith("sft/model") or "sft-" in policy["reference"]  # previous = the SFT model in cycle 1


def test_compare_lists_every_method_on_the_same_tasks(runs, tmp_path, capsys):
    dirs = [str(run_dir(runs, r)) for r in METHOD_SETS]
    assert main(["compare", *dirs, "--output", str(tmp_path / "cmp")]) == 0
    out = capsys.readouterr().out
    for label in ("SFT", "IPR", "ETO", "RFT", "StepAgent-Implicit", "StepAgent-Inverse"):
        assert f"| {label} " in out
    assert out.count("| SFT ") == 1  # one shared SFT model, listed once
    data = json.loads((tmp_path / "cmp" / "comparison.json").read_text())
    assert data["tasks"] == 4 and (tmp_path / "cmp" / "comparison.png").exists()
    assert all("vs_sft" in r for r in data["rows"] if r["method"] != "SFT")
