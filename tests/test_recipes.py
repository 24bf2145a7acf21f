"""Recipe resolution: bundled recipes and presets, ``extends``, method rules, shared stage-0 keys."""

from __future__ import annotations

import json

import pytest

from harness.pipeline.recipe_run import plan, stage0_keys
from harness.recipes import RecipeError, list_recipes, load_recipe

METHOD_RECIPES = ["sft-webshop", "rft-webshop", "eto-webshop", "ipr-webshop", "stepagent-implicit-webshop", "stepagent-inverse-webshop",
                  "ipr-alfworld", "ipr-intercode-sql"]


@pytest.mark.parametrize("name", METHOD_RECIPES)
@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_every_bundled_recipe_resolves_in_every_preset(name, preset):
    r = load_recipe(name, preset)
    assert r.name == name and r.preset == preset
    assert plan(r)[:5] == ["model", "expert", "sft", "eval_sft_valid", "eval_sft_test"] and plan(r)[-1] == "report"
    assert set(METHOD_RECIPES) <= set(list_recipes())


def test_baselines_share_stage0_with_ipr_but_not_their_method_settings():
    ipr, eto, sft = (load_recipe(n) for n in ("ipr-webshop", "eto-webshop", "sft-webshop"))
    assert stage0_keys(ipr) == stage0_keys(eto) == stage0_keys(sft)
    assert ipr.config_hash != eto.config_hash
    assert eto.train.nll == "none" and eto.train.reference == "previous" and not eto.pairs.step_pairs
    assert eto.train.beta_after_first == 0.5 and ipr.train.beta_after_first is None
    assert sft.iterations == 0 and plan(sft)[-1] == "report" and "select" not in plan(sft)
    # a change to SFT moves the SFT key and everything after it, not the expert data
    other = load_recipe("ipr-webshop", overrides=["sft.learning_rate=0.01"])
    k0, k1 = stage0_keys(ipr), stage0_keys(other)
    assert k0["expert"] == k1["expert"] and k0["model"] == k1["model"]
    assert k0["sft"] != k1["sft"] and k0["eval_sft_test"] != k1["eval_sft_test"]


def test_extends_merges_the_parent_and_its_presets(tmp_path):
    child = tmp_path / "mine.yaml"
    child.write_text("extends: ipr-webshop\nname: mine\ntrain:\n  beta: 0.3\npresets:\n  tiny:\n    iterations: 1\n")
    r = load_recipe(str(child))
    assert r.name == "mine" and r.train.beta == 0.3 and r.iterations == 1
    assert r.data.train_tasks == load_recipe("ipr-webshop").data.train_tasks  # the rest of the parent's tiny preset


def test_extends_loops_and_unknown_parents_are_named(tmp_path):
    a, b = tmp_path / "a.yaml", tmp_path / "b.yaml"
    a.write_text(f"extends: {b}\nname: a\n")
    b.write_text(f"extends: {a}\nname: b\n")
    with pytest.raises(RecipeError, match="loops back"):
        load_recipe(str(a))
    c = tmp_path / "c.yaml"
    c.write_text("extends: ipr-webshopp\nname: c\n")
    with pytest.raises(RecipeError, match="Did you mean 'ipr-webshop'"):
        load_recipe(str(c))


def test_method_rules_are_checked_with_the_fix():
    with pytest.raises(RecipeError, match="set 'iterations: 0'"):
        load_recipe("sft-webshop", overrides=["iterations=2"])
    with pytest.raises(RecipeError, match="unknown method 'dpo'"):
        load_recipe("ipr-webshop", overrides=["method=dpo"])
    with pytest.raises(RecipeError, match="'train.reference' must be 'sft' or 'previous'"):
        load_recipe("eto-webshop", overrides=["train.reference=base"])


def test_unknown_keys_in_new_sections_are_named():
    with pytest.raises(RecipeError, match="unknown key 'policy_gradient.kl'"):
        load_recipe("stepagent-inverse-webshop", overrides=["policy_gradient.kl=0.1"])
    with pytest.raises(RecipeError, match="'inspect.samples' must be an integer"):
        load_recipe("stepagent-implicit-webshop", overrides=["inspect.samples=two"])


def test_dry_run_of_each_method_prints_its_stages(capsys):
    from harness.cli import main

    assert main(["reproduce", "stepagent-inverse-webshop", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "iter1/discriminator -> iter1/policy" in out
    config = json.loads(out[: out.index("\nrecipe ")])
    assert config["method"] == "stepagent-inverse"


def test_learning_rates_without_a_dot_are_numbers(tmp_path):
    """YAML 1.1 reads `2e-5` as a string; recipes and --set read it as the float it is written as."""
    from harness.recipes import load_yaml, parse_set

    assert parse_set(["sft.learning_rate=2e-5", "train.beta=1E-1"]) == {"sft": {"learning_rate": 2e-5}, "train": {"beta": 0.1}}
    assert load_yaml("lr: 3e-6\nname: 1e5x\nlist: [1e3, e3]\n") == {"lr": 3e-6, "name": "1e5x", "list": [1000.0, "e3"]}
    assert load_recipe("ipr-webshop", preset="tiny", overrides=["sft.learning_rate=2e-5"]).sft.learning_rate == 2e-5
