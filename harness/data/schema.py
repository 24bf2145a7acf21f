"""The schema of every artifact type (a dataset *config*) as ``datasets.Features``.

Configs are the artifact types of the pipeline (ARCHITECTURE.md, "Versioned datasets"):

- ``tasks``: one row per task (env id, task id, instruction, split);
- ``expert_trajectories`` / ``explored_trajectories``: one row per episode, the fields of
  :class:`harness.types.Trajectory` (``prefix_steps`` says how many leading steps were replayed);
  explored rows also name the expert trajectory whose prefix was replayed (``expert_id``);
- ``step_rewards``: the fields of :class:`harness.types.StepReward`, one estimate per (trajectory id,
  step index, scorer, N, temperature, seed);
- ``pairs``: the fields of :class:`harness.types.Pair`: TRL's conversational preference format
  (``prompt``, ``chosen``, ``rejected`` as message lists) plus ``level``, ``step_index``, both
  rewards and the builder's name and version.

Every row has an ``id`` column: its content hash (see :mod:`harness.data.hashing`). Free-form
dictionaries (a step's ``info``, import metadata in ``extra``) are stored as JSON strings so the
schema stays fixed.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harness.data.errors import SchemaError, unknown

if TYPE_CHECKING:
    from datasets import Features

SCHEMA_VERSION = "1"

CONFIG_DESCRIPTIONS: dict[str, str] = {
    "tasks": "one row per task: environment, task id, instruction and split",
    "expert_trajectories": "one episode of the scripted expert per row, every step in ReAct form",
    "explored_trajectories": "episodes sampled from a policy along expert prefixes (IPR's exploration)",
    "step_rewards": "one step-reward estimate per (trajectory, step, scorer, N, temperature, seed)",
    "pairs": "preference pairs in TRL's conversational format, outcome- or step-level",
}
CONFIGS: tuple[str, ...] = tuple(CONFIG_DESCRIPTIONS)
TRAJECTORY_CONFIGS = ("expert_trajectories", "explored_trajectories")
PAIR_LEVELS = ("outcome", "step")


def _message() -> dict[str, Any]:
    from datasets import Value

    return {"role": Value("string"), "content": Value("string")}


def _trajectory_columns() -> dict[str, Any]:
    from datasets import List, Value

    step = {
        "text": Value("string"),
        "action": Value("string"),
        "observation": Value("string"),
        "reward": Value("float64"),
        "done": Value("bool"),
        "info": Value("string"),  # JSON object
    }
    return {
        "id": Value("string"),
        "env_id": Value("string"),
        "env_version": Value("string"),
        "task_id": Value("string"),
        "instruction": Value("string"),
        "initial_observation": Value("string"),
        "steps": List(step),
        "final_reward": Value("float64"),
        "stop_reason": Value("string"),
        "success": Value("bool"),
        "success_threshold": Value("float64"),
        "policy": Value("string"),
        "seed": Value("int64"),
        "prefix_steps": Value("int32"),
        "extra": Value("string"),  # JSON object: import metadata (e.g. FastChat record details), else "{}"
    }


def features_for(config: str) -> Features:
    """The ``datasets.Features`` of artifact type ``config`` (raises for an unknown config)."""
    from datasets import Features, List, Value

    if config == "tasks":
        cols = {
            "id": Value("string"),
            "env_id": Value("string"),
            "task_id": Value("string"),
            "instruction": Value("string"),
            "split": Value("string"),
        }
    elif config == "expert_trajectories":
        cols = _trajectory_columns()
    elif config == "explored_trajectories":
        cols = _trajectory_columns() | {"expert_id": Value("string")}
    elif config == "step_rewards":
        cols = {
            "id": Value("string"),
            "trajectory_id": Value("string"),
            "step_index": Value("int32"),
            "scorer": Value("string"),
            "n": Value("int32"),
            "temperature": Value("float64"),
            "seed": Value("int64"),
            "value": Value("float64"),
            "samples": List(Value("float64")),
            "terminal": Value("bool"),
        }
    elif config == "pairs":
        cols = {
            "id": Value("string"),
            "prompt": List(_message()),
            "chosen": List(_message()),
            "rejected": List(_message()),
            "level": Value("string"),
            "step_index": Value("int32"),
            "chosen_reward": Value("float64"),
            "rejected_reward": Value("float64"),
            "builder": Value("string"),
            "builder_version": Value("string"),
            "env_id": Value("string"),
            "task_id": Value("string"),
            "chosen_trajectory_id": Value("string"),
            "rejected_trajectory_id": Value("string"),
            "winner": Value("string"),
        }
    else:
        raise unknown("dataset config", config, list(CONFIGS), "harness's schemas", "Configs are artifact types.")
    return Features(cols)


def check_config(config: str) -> str:
    """Return ``config`` if it is a known artifact type, else raise an error listing the known ones."""
    if config not in CONFIG_DESCRIPTIONS:
        raise unknown("dataset config", config, list(CONFIGS), "harness's schemas", "Configs are artifact types.")
    return config


def _describe(feature: Any) -> str:
    from datasets import List, Value

    if isinstance(feature, Value):
        return feature.dtype
    if isinstance(feature, List):
        return f"list<{_describe(feature.feature)}>"
    if isinstance(feature, dict):
        return "struct<" + ", ".join(f"{k}: {_describe(v)}" for k, v in feature.items()) + ">"
    return type(feature).__name__


def schema_differences(actual: Features, config: str) -> list[str]:
    """Human-readable differences between ``actual`` and the schema of ``config`` (empty: they match)."""
    expected = features_for(config)
    problems = [f"missing column '{name}' ({_describe(f)})" for name, f in expected.items() if name not in actual]
    problems += [f"unexpected column '{name}'" for name in actual if name not in expected]
    for name, f in expected.items():
        if name in actual and actual[name] != f:
            problems.append(f"column '{name}' is {_describe(actual[name])}, expected {_describe(f)}")
    return problems


def check_features(actual: Features, config: str, where: str) -> None:
    """Raise :class:`SchemaError` naming ``where`` when ``actual`` is not the schema of ``config``."""
    problems = schema_differences(actual, config)
    if problems:
        raise SchemaError(
            f"{where} does not match the '{config}' schema (harness schema v{SCHEMA_VERSION}): "
            + "; ".join(problems)
            + ". Rebuild it with harness's writers (harness.data.folder.write_split) or fix the columns."
        )
