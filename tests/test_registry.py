"""One lazy registry for what users pick by name: environments, model backends, methods, dataset
registries. Names are listed without importing anything; unknown names get the known ones and a guess;
a method's runs hash only the recipe sections that method reads."""

from __future__ import annotations

import subprocess
import sys

import pytest

from harness.registry import NameRegistry, UnknownNameError


def test_names_resolve_lazily_and_unknown_names_say_what_is_known():
    reg: NameRegistry[object] = NameRegistry("widget")
    reg.add("json-loads", "json:loads", "parse JSON")
    reg.add("answer", 42)
    assert reg.names() == ["json-loads", "answer"] and "answer" in reg
    assert reg.get("json-loads")("[1]") == [1] and reg.get("answer") == 42
    with pytest.raises(UnknownNameError, match=r"unknown widget 'json-load'. Known: answer, json-loads. Did you mean: json-loads\?"):
        reg.get("json-load")


def test_every_registry_lists_without_importing_and_guesses_names():
    code = (
        "import sys; from harness.envs import list_envs; from harness.methods import METHODS; "
        "from harness.policies.specs import BACKENDS; from harness.data.registries import REGISTRIES; "
        "print([e.name for e in list_envs()], METHODS.names(), BACKENDS.names(), REGISTRIES.names()); "
        "print(sorted(m for m in sys.modules if m.startswith(('harness.envs.webshop', 'harness.methods.ipr', "
        "'harness.policies.hf', 'harness.data.local_registry', 'torch'))))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.splitlines()
    assert "'webshop'" in out[0] and "'stepagent-inverse'" in out[0] and "'vllm'" in out[0] and "'hub'" in out[0]
    assert out[1] == "[]"  # nothing behind a name was imported to list the names

    from harness.envs import make_env
    from harness.methods import get_method
    from harness.policies import make_policy

    with pytest.raises(KeyError, match="Did you mean: webshop"):
        make_env("webshopp")
    with pytest.raises(KeyError, match="Did you mean: stepagent-implicit"):
        get_method("stepagent-implict")
    with pytest.raises(KeyError, match="unknown policy 'vlm:x'"):
        make_policy("vlm:x")


def test_a_method_hashes_only_the_sections_it_reads(caplog):
    from harness.recipes import load_recipe

    ipr = load_recipe("ipr-webshop")
    assert {"explore", "estimate", "pairs", "train"} <= set(ipr.to_dict())
    assert not {"discriminator", "policy_gradient", "inspect", "rft"} & set(ipr.to_dict())
    # another method's settings: ignored with a warning, and the run is the same run
    with caplog.at_level("WARNING", logger="harness"):
        same = load_recipe("ipr-webshop", overrides=["discriminator.epochs=9"])
    assert same.config_hash == ipr.config_hash
    assert "--set discriminator.* ignored: method 'ipr' does not read 'discriminator'" in caplog.text
    assert load_recipe("ipr-webshop", overrides=["estimate.n=4"]).config_hash != ipr.config_hash

    inverse = load_recipe("stepagent-inverse-webshop")
    assert {"inspect", "discriminator", "policy_gradient"} <= set(inverse.to_dict()) and "estimate" not in inverse.to_dict()
    assert "estimate" not in load_recipe("sft-webshop").to_dict()


def test_no_stage_or_method_module_names_a_concrete_backend():
    """Stages hold the algorithm: where a model runs is the execution seam's business, so a new
    backend is one module plus one registry line (harness/policies/specs.py)."""
    import ast
    from pathlib import Path

    import harness

    root = Path(harness.__file__).parent
    for folder in ("pipeline", "methods"):
        for path in (root / folder).glob("*.py"):
            for node in ast.walk(ast.parse(path.read_text())):
                names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                    [node.module or ""] if isinstance(node, ast.ImportFrom) else [])  # fmt: skip
                for name in names:
                    assert not name.startswith(("harness.policies.hf", "harness.policies.vllm", "vllm", "transformers")), (path, name)
