"""Recipe resolution: bundled recipes and presets, ``extends``, method rules, shared stage-0 keys."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from harness.pipeline.recipe_run import plan, stage0_keys
from harness.recipes import RecipeError, list_recipes, load_recipe

METHODS = ["ipr", "sft", "rft", "eto", "stepagent-implicit", "stepagent-inverse"]
ENVS = {"webshop": ("webshop", 10), "alfworld": ("alfworld", 20), "intercode-sql": ("intercode_sql", 10)}
"""Recipe suffix -> (env id, step budget of IPR §4.1)."""
METHOD_RECIPES = [f"{m}-{e}" for e in ENVS for m in METHODS]


@pytest.mark.parametrize("name", METHOD_RECIPES)
@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_every_bundled_recipe_resolves_in_every_preset(name, preset):
    r = load_recipe(name, preset)
    assert r.name == name and r.preset == preset
    assert plan(r)[:5] == ["model", "expert", "sft", "eval_sft_valid", "eval_sft_test"] and plan(r)[-1] == "report"
    assert set(METHOD_RECIPES) <= set(list_recipes())


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_the_grid_has_every_method_on_every_env_with_its_step_budget(method, env, preset):
    r = load_recipe(f"{method}-{env}", preset)
    env_id, max_steps = ENVS[env]
    assert (r.method, r.env.id, r.env.max_steps) == (method, env_id, max_steps)
    assert (r.iterations == 0) == (method == "sft")
    if env == "alfworld":  # chosen on seen, tested on unseen, as ipr-alfworld
        assert (r.data.valid_split, r.data.test_split) == ("seen", "unseen")


@pytest.mark.parametrize("env", ENVS)
@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_the_methods_of_one_env_share_its_stage0_and_keep_their_own_settings(env, preset):
    recipes = {m: load_recipe(f"{m}-{env}", preset) for m in METHODS}
    keys = {m: stage0_keys(r) for m, r in recipes.items()}
    assert all(k == keys["ipr"] for k in keys.values()), {m: k["sft"] for m, k in keys.items()}
    assert len({r.config_hash for r in recipes.values()}) == len(METHODS)
    others = [e for e in ENVS if e != env]
    assert all(stage0_keys(load_recipe(f"sft-{e}", preset))["sft"] != keys["sft"]["sft"] for e in others)
    # each method's own settings are the method part's, whatever the environment
    webshop = {m: load_recipe(f"{m}-webshop", preset) for m in METHODS}
    owned = ("nll", "reference", "beta", "learning_rate", "beta_after_first", "learning_rate_after_first")
    for m in ("eto", "stepagent-implicit", "stepagent-inverse"):  # (max_length is the environment's: ALFWorld's is longer)
        assert [getattr(recipes[m].train, k) for k in owned] == [getattr(webshop[m].train, k) for k in owned]
        assert recipes[m].iterations == webshop[m].iterations
    assert recipes["eto"].pairs.step_pairs is False and recipes["eto"].train.nll == "none"
    assert recipes["rft"].rft.samples == webshop["rft"].rft.samples
    assert recipes["stepagent-inverse"].policy_gradient.kl_beta == webshop["stepagent-inverse"].policy_gradient.kl_beta


def _leaves(tree: dict, prefix: str = "") -> dict:
    out = {}
    for k, v in (tree or {}).items():
        out.update(_leaves(v, f"{prefix}{k}.") if isinstance(v, dict) else {prefix + k: v})
    return out


@pytest.mark.parametrize("method", [m for m in METHODS if m != "ipr"])
@pytest.mark.parametrize("preset", ["tiny", "small", "paper"])
def test_a_method_parts_values_are_not_overridden_by_the_ipr_recipes_presets(method, preset):
    """An IPR preset (e.g. the paper's 4 iterations) must not leak into another method: the method
    part's value holds unless the method part's own preset, or the environment's recipe, sets it."""
    import yaml

    part = yaml.safe_load((Path(__file__).parents[1] / "recipes" / "methods" / f"{method}.yaml").read_text())
    own = _leaves({k: v for k, v in part.items() if k not in ("presets", "method", "description")})
    own_preset = _leaves((part.get("presets") or {}).get(preset))
    for env in ENVS:
        env_recipe = yaml.safe_load((Path(__file__).parents[1] / "recipes" / f"{method}-{env}.yaml").read_text())
        env_sets = _leaves({k: v for k, v in env_recipe.items() if k != "presets"}) | _leaves(
            (env_recipe.get("presets") or {}).get(preset))
        resolved = _leaves(load_recipe(f"{method}-{env}", preset).to_dict())
        for key, value in own.items():
            if key not in own_preset and key not in env_sets and key in resolved:
                assert resolved[key] == value, (f"{method}-{env}", preset, key)


def test_alfworld_methods_generate_no_longer_replies_than_its_exploration():
    explore = load_recipe("ipr-alfworld").explore.max_new_tokens
    assert load_recipe("rft-alfworld").rft.max_new_tokens == explore
    assert load_recipe("stepagent-implicit-alfworld").inspect.max_new_tokens == explore
    inverse = load_recipe("stepagent-inverse-alfworld")
    assert inverse.inspect.max_new_tokens == inverse.policy_gradient.max_new_tokens == explore


def test_extends_a_list_merges_an_env_recipe_and_a_method_part_in_order(tmp_path):
    """[env recipe, method part] resolves as the env recipe with the method's settings written into it."""
    import yaml

    part = yaml.safe_load((Path(__file__).parents[1] / "recipes" / "methods" / "eto.yaml").read_text())
    inline = tmp_path / "inline.yaml"
    inline.write_text(yaml.safe_dump({"extends": "ipr-alfworld", **part, "name": "eto-alfworld"}))
    assert load_recipe(str(inline), "tiny").config_hash == load_recipe("eto-alfworld", "tiny").config_hash
    swapped = tmp_path / "swapped.yaml"  # the later parent wins: the method part first loses its iterations
    swapped.write_text("extends: [methods/eto, ipr-alfworld]\nname: swapped\n")
    r = load_recipe(str(swapped), "tiny")
    assert r.method == "ipr" and r.iterations == load_recipe("ipr-alfworld", "tiny").iterations


def test_a_method_part_is_not_a_recipe():
    with pytest.raises(RecipeError, match="not a runnable recipe.*eto-alfworld"):
        load_recipe("methods/eto")
    assert not any(n.startswith("methods") for n in list_recipes())


def test_reproduce_list_shows_every_recipe_with_its_env_and_step_budget(capsys):
    from harness.cli import main

    assert main(["reproduce", "--list"]) == 0
    lines = {line.split()[0]: line.split() for line in capsys.readouterr().out.splitlines() if line.strip()}
    for name in METHOD_RECIPES:
        env = name.split("-", 1)[1] if not name.startswith("stepagent") else name.split("-", 2)[2]
        assert lines[name][1:4] == [load_recipe(name).method, ENVS[env][0], str(ENVS[env][1])], name
    assert main(["reproduce"]) == 2  # no recipe named: an error that points at --list


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
