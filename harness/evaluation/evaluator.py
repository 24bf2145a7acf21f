"""Run a policy on a split, score it, and write ``results.json`` and ``trajectories.jsonl``.

``results.json`` follows ``results.schema.json`` (validated before it is written) and records what
is needed to redo and compare the run: env id and version, split, hash of the evaluated task ids,
generation settings, seeds, package versions, git commit, hardware and wall time.
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

from harness.evaluation.metrics import METRICS_VERSION, episode_metrics
from harness.types import EvalResult, Trajectory, content_hash


@dataclass
class EvalConfig:
    """What to evaluate and where to write it."""

    env: str = "webshop"
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    policy: str = "expert"
    split: str = "test"
    limit: int | None = None
    seed: int = 0
    temperature: float = 0.0
    max_new_tokens: int = 512
    stop: tuple[str, ...] = ()
    icl: int = 0
    """In-context expert episodes from the train split in every prompt (``prompting.icl_examples``)."""
    output: str | None = None
    progress: bool = True


def task_ids_hash(task_ids: list[str]) -> str:
    """Hash of the exact (ordered) task-id list evaluated: results are comparable only if equal."""
    return content_hash(list(task_ids))


def results_schema() -> dict[str, Any]:
    """The JSON Schema of ``results.json``."""
    return json.loads(resources.files("harness.evaluation").joinpath("results.schema.json").read_text())


def validate_results(data: dict[str, Any]) -> None:
    """Raise ``ValueError`` naming the first field of ``data`` that breaks the results schema."""
    import jsonschema

    try:
        jsonschema.validate(data, results_schema())
    except jsonschema.ValidationError as e:
        where = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ValueError(f"results.json is invalid at {where}: {e.message}") from None


def _write_atomic(path: Path, text: str) -> None:
    fd, tmp = tempfile.mkstemp(prefix=path.name + ".", dir=path.parent)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        f.write(text)
    os.replace(tmp, path)


def write_outputs(output: str | Path, result: EvalResult, trajectories: list[Trajectory]) -> Path:
    """Write ``results.json`` (schema-checked) and ``trajectories.jsonl`` into ``output``."""
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    data = result.to_dict()
    validate_results(data)
    lines = "".join(json.dumps(t.to_dict(), ensure_ascii=False) + "\n" for t in trajectories)
    _write_atomic(out / "trajectories.jsonl", lines)
    _write_atomic(out / "results.json", json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return out


def format_table(result: EvalResult) -> str:
    """The metrics as a terminal table (value, 95% interval, n)."""
    from tabulate import tabulate

    rows = []
    for name, m in result.metrics.items():
        ci = f"[{m.ci_low:.3f}, {m.ci_high:.3f}]" if m.ci_low is not None else "-"
        rows.append((name, f"{m.value:.3f}", ci, m.n))
    title = f"{result.env_id} / {result.split} / policy {result.policy}\n"
    return title + tabulate(rows, headers=["metric", "value", "95% CI", "n"])


def evaluate(
    config: EvalConfig, argv: list[str] | None = None, policy: Any = None, execution: dict[str, Any] | None = None
) -> tuple[EvalResult, list[Trajectory]]:
    """Evaluate ``config.policy`` on ``config.split`` and return (result, trajectories); writes files if asked.

    ``policy``: an already built policy for ``config.policy``; ``execution``: where the run executed,
    recorded in the provenance. (A recipe's evaluation stage plays its episodes through the execution
    seam instead and scores them with :func:`score_episodes`.)"""
    from tqdm import tqdm

    from harness.envs import make_env
    from harness.policies import make_policy
    from harness.prompting import icl_examples
    from harness.rollout import run_episodes

    start = time.perf_counter()
    ids = evaluation_task_ids(config)
    examples, _ = icl_examples(config.env, config.env_kwargs, config.icl)
    if policy is None:
        policy = make_policy(config.policy)
    bar = tqdm(total=len(ids), desc=f"eval {config.policy}", unit="ep", disable=not config.progress)
    trajectories = run_episodes(lambda: make_env(config.env, **config.env_kwargs), ids, policy, eval_sampling(config),
                                seed=config.seed, progress=bar.update, icl_messages=examples)  # fmt: skip
    bar.close()
    result = score_episodes(config, trajectories, getattr(policy, "provenance", {}), start, argv, execution)
    return result, trajectories


def eval_sampling(config: EvalConfig) -> Any:
    """The :class:`~harness.policies.Sampling` an evaluation generates with."""
    from harness.policies import Sampling

    return Sampling(temperature=config.temperature, max_new_tokens=config.max_new_tokens, stop=tuple(config.stop))


def prompt_provenance(config: EvalConfig, icl: tuple[list[dict[str, str]], list[str]] | None = None) -> dict[str, Any]:
    """How the prompts were built: the in-context examples' count, train task ids and content hash, and
    the hash of the task description every prompt starts with (so a regeneration can tell it changed).
    ``icl``: the (turns, task ids) the episodes were played with, when the caller has them (a recipe's
    run computes them once); else they are computed from ``config.icl``."""
    from harness.prompting import TASK_DESCRIPTIONS, icl_examples

    examples, example_ids = icl if icl is not None else icl_examples(config.env, config.env_kwargs, config.icl)
    if len(example_ids) != config.icl:
        raise ValueError(f"the prompts had {len(example_ids)} in-context examples but the evaluation says icl={config.icl}")
    description = TASK_DESCRIPTIONS.get(config.env)
    return {"icl": config.icl, "icl_task_ids": example_ids, "icl_hash": content_hash(examples) if examples else None,
            "task_description_hash": content_hash(description) if description is not None else None}  # fmt: skip


def evaluation_task_ids(config: EvalConfig) -> list[str]:
    """The task ids ``config`` evaluates: the first ``limit`` of its split (checked)."""
    from harness.envs import make_env

    ids = make_env(config.env, **config.env_kwargs).task_ids(config.split)
    if config.limit is not None:
        if config.limit < 1:
            raise ValueError(f"--limit must be a positive number of tasks, got {config.limit}")
        ids = ids[: config.limit]
    if not ids:
        raise ValueError(f"split '{config.split}' of {config.env} has no tasks")
    return ids


def score_episodes(
    config: EvalConfig, trajectories: list[Trajectory], policy_provenance: dict[str, Any], started: float,
    argv: list[str] | None = None, execution: dict[str, Any] | None = None,
    icl: tuple[list[dict[str, str]], list[str]] | None = None,
) -> EvalResult:  # fmt: skip
    """The metrics and provenance of ``trajectories`` (one per task of :func:`evaluation_task_ids`, in
    order, played with ``config``'s sampling, seed and ``icl`` in-context examples: the (turns, task
    ids) they were played with, or None to compute them); writes and prints them when ``config`` asks."""
    from harness.envs import make_env
    from harness.provenance import provenance

    prov = provenance(argv)
    env = make_env(config.env, **config.env_kwargs)
    ids = [t.task_id for t in trajectories]
    prov.update(
        {
            "env_kwargs": config.env_kwargs,
            "task_ids_hash": task_ids_hash(ids),
            "n_tasks": len(ids),
            "limit": config.limit,
            "seed": config.seed,
            "sampling": asdict(eval_sampling(config)),
            "prompt": prompt_provenance(config, icl),
            "max_steps": env.max_steps,
            "metrics_version": METRICS_VERSION,
            "policy": {"spec": config.policy, **policy_provenance},
            "wall_time_s": round(time.perf_counter() - started, 3),
            **({"execution": execution} if execution is not None else {}),
        }
    )
    result = EvalResult(
        env_id=env.env_id,
        env_version=env.version,
        split=config.split,
        policy=config.policy,
        metrics=episode_metrics(trajectories),
        per_task={t.task_id: t.final_reward for t in trajectories},
        provenance=prov,
    )
    if config.output:
        write_outputs(config.output, result, trajectories)
    if config.progress or config.output:
        print(format_table(result))
        if config.output:
            print(f"wrote {Path(config.output) / 'results.json'} and trajectories.jsonl ({len(trajectories)} episodes)")
    return result
