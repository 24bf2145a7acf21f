"""IPR §5.5's learned step reward model: `--set estimate.method=learned` trains a regressor on iteration
1's published Monte-Carlo labels and scores the later iterations with it instead of rollouts."""

from __future__ import annotations

import json

import pytest
from miniature import mini_args, run_dir

from harness.cli import main
from harness.execution.checkpoints import read_jsonl
from harness.prompting import build_messages

LEARNED = {
    "iterations": 2,
    "estimate.method": "learned",
    "data.explore_tasks": 5,
    "estimate.reward_model.epochs": 2,
    "estimate.reward_model.batch_size": 8,
    "estimate.reward_model.per_device_batch_size": 8,
    "estimate.reward_model.learning_rate": 1e-3,
    "estimate.reward_model.max_length": 1024,
    "estimate.reward_model.held_out": 0.4,
}


@pytest.fixture
def catalog(tmp_path_factory):
    """The miniature's catalog (as :func:`miniature.mini_catalog`): goals 1500+ are train tasks."""
    from harness.envs.webshop.generator import write_catalog

    return write_catalog(tmp_path_factory.mktemp("rm") / "cat", n_products=80, n_goals=1520, seed=3)


@pytest.mark.slow
def test_learned_reward_model_replaces_the_rollouts_after_iteration_1(tmp_path, catalog, monkeypatch):
    monkeypatch.setenv("HARNESS_REGISTRY", str(tmp_path / "registry"))
    args = mini_args(catalog, tmp_path / "runs", extra=LEARNED)
    assert main(args) == 0
    run = run_dir(tmp_path / "runs")

    # iteration 1: Monte-Carlo, published; the model is trained on exactly that publish
    mc_rows = read_jsonl(run / "iter1" / "estimate" / "step_rewards.jsonl")
    assert mc_rows and all(r["n"] == 2 and not r["scorer"].startswith("reward_model:") for r in mc_rows)
    published = json.loads((run / "iter1" / "estimate" / "manifest.json").read_text())["published"]
    rm = json.loads((run / "iter1" / "reward_model" / "manifest.json").read_text())
    assert rm["sources"]["step_rewards"]["commit"] == published["commit"]
    assert rm["labelled_actions"] == len(mc_rows) and rm["train_actions"] > 0 and rm["held_out_tasks"]
    card = (run / "iter1" / "reward_model" / "model" / "README.md").read_text()
    assert published["commit"] in card and published["tag"] in card and "§5.5" in card

    # iteration 2: one forward pass per non-terminal action, no rollout played
    rows = read_jsonl(run / "iter2" / "estimate" / "step_rewards.jsonl")
    learned = [r for r in rows if not r["terminal"]]
    assert learned and all(r["scorer"].startswith("reward_model:") and r["n"] == 0 and r["samples"] == [] for r in learned)
    assert all(0.0 <= r["value"] <= 1.0 for r in rows)
    assert not (run / "iter2" / "estimate" / "chunks").exists()
    assert (run / "iter2" / "pairs" / "manifest.json").exists()

    # the report: agreement and cost figures
    report = (run / "report" / "report.md").read_text()
    for figure in ("Pearson r (RM vs MC)", "Spearman rho", "IPR step-pair decision agrees", "Monte-Carlo rollouts avoided",
                   "reward model training"):  # fmt: skip
        assert figure in report, figure
    summary = json.loads((run / "report" / "manifest.json").read_text())["reward_model"]
    assert summary["cost"]["rollouts_avoided"] > 0 and summary["cost"]["mc_rollouts_iteration1"] > 0
    assert summary["agreement"]["pair_decisions"] > 0

    # a killed estimate re-run gives the same step rewards (the model is deterministic)
    (run / "iter2" / "estimate" / "manifest.json").unlink()
    (run / "iter2" / "estimate" / "step_rewards.jsonl").unlink()
    assert main(args) == 0
    assert read_jsonl(run / "iter2" / "estimate" / "step_rewards.jsonl") == rows


def state(i: int) -> list[dict[str, str]]:
    return build_messages("webshop", f"Instruction: i need item number {i}, price lower than {10 * i} dollars\n[Search]")


GOOD, BAD = "Thought: this one fits.\nAction: click[buy now]", "Thought: not sure.\nAction: search[xyz]"


def test_regressor_learns_the_value_of_actions_it_can_tell_apart(tiny_model, tmp_path):
    from harness.training.reward_model import RewardModelSettings, predict_step_rewards, train_reward_model

    examples = [{"prompt": state(i), "action": a, "value": v} for i in range(8) for a, v in ((GOOD, 0.8), (BAD, 0.2))]
    settings = RewardModelSettings(epochs=12, batch_size=4, per_device_batch_size=4, learning_rate=1e-3, max_length=64)
    out = train_reward_model(str(tiny_model), examples, tmp_path, settings, seed=0)
    assert out["train_mse"] < 0.09 * 0.25  # well under the labels' variance (0.09)
    unseen = [(state(i), a) for i in range(20, 24) for a in (GOOD, BAD)]
    preds = predict_step_rewards(str(out["path"]), unseen)
    assert all(abs(p - v) < 0.2 for p, v in zip(preds, [0.8, 0.2] * 4))
    assert predict_step_rewards(str(out["path"]), unseen[:3], batch_size=1) == pytest.approx(preds[:3], abs=1e-5)


def test_bad_estimate_settings_are_named(capsys):
    assert main(["reproduce", "ipr-webshop", "--set", "estimate.method=lerned", "--dry-run"]) == 2
    assert "'estimate.method' must be one of monte_carlo, learned" in capsys.readouterr().err
    assert main(["reproduce", "ipr-webshop", "--set", "estimate.method=learned", "--set", "data.publish=false", "--dry-run"]) == 2
    assert "set data.publish=true" in capsys.readouterr().err


def test_monte_carlo_recipes_keep_their_config_hashes():
    """The learned model's keys (and ``prompt``, at 0-shot) are hashed only when used: every stored run id stays valid."""
    import dataclasses

    from harness.recipes import list_recipes, load_recipe, read_recipe_file, recipe_path
    from harness.types import content_hash

    for name in list_recipes():
        for preset in [None, *(read_recipe_file(recipe_path(name)).get("presets") or {})]:
            r = load_recipe(name, preset)
            before = r.to_dict()  # the hashed form before `method`, `reward_model` and `prompt` existed
            assert before.pop("prompt") == {"icl": 0}, (name, preset)  # every preset is 0-shot
            if "estimate" in before:
                before["estimate"] = {k: v for k, v in before["estimate"].items() if k in ("n", "temperature")}
            before["execution"] = {k: v for k, v in before["execution"].items() if k not in ("workers", "ray_address", "checkpoint_every_s")}
            assert r.config_hash == content_hash(before), (name, preset)
    assert load_recipe("ipr-webshop", "tiny").config_hash == "bd4ee80d5e3bf467"  # run ids tiny-seed42-bd4ee80d
    learned = load_recipe("ipr-webshop", "tiny", ["estimate.method=learned"])
    assert learned.config_hash != "bd4ee80d5e3bf467"
    bigger = load_recipe("ipr-webshop", "tiny", ["estimate.method=learned", "estimate.reward_model.epochs=9"])
    assert bigger.config_hash != learned.config_hash
    assert dataclasses.asdict(learned.estimate)["reward_model"]["epochs"] == 5
    one_shot = load_recipe("ipr-webshop", "tiny", ["prompt.icl=1"])
    assert one_shot.prompt.icl == 1 and one_shot.config_hash not in ("bd4ee80d5e3bf467", learned.config_hash)
    assert load_recipe("ipr-webshop", "tiny", ["prompt.icl=0"]).config_hash == "bd4ee80d5e3bf467"


def test_agreement_figures():
    from harness.methods.reward_model import held_out_tasks, pearson, spearman

    assert pearson([1, 2, 3], [2, 4, 6]) == pytest.approx(1.0)
    assert spearman([1, 2, 3, 4], [1, 8, 27, 64]) == pytest.approx(1.0)
    assert spearman([1, 2, 3], [3, 2, 1]) == pytest.approx(-1.0)
    assert pearson([1, 1, 1], [1, 2, 3]) is None
    ids = [f"t{i}" for i in range(10)]
    assert held_out_tasks(ids, 0.2, 42) == held_out_tasks(list(reversed(ids)), 0.2, 42) and len(held_out_tasks(ids, 0.2, 42)) == 2
