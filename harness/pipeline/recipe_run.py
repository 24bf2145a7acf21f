"""Every recipe end to end: the skeleton shared by all methods, with the method's stages in the middle.

Stages (each a folder under ``runs/<recipe>/<run_id>/`` with a manifest; complete stages are
skipped on a re-run, long ones resume from their last finished chunk):

  model, expert, sft, eval_sft_valid, eval_sft_test,
  iter<i>/<the method's stages>, iter<i>/eval_valid     (i = 1..K; none for the SFT baseline)
  select (best iteration on validation, never test), eval_best_test, report

The method (``recipe.method``) only decides what happens inside an iteration; see
:mod:`harness.methods`.
"""

from __future__ import annotations

import dataclasses
import random
from pathlib import Path
from typing import Any

from harness.methods import get_method
from harness.pipeline import stages
from harness.pipeline.context import Context
from harness.pipeline.runner import Run
from harness.recipes import Recipe


def plan(recipe: Recipe) -> list[str]:
    """The ordered stage names this recipe will run."""
    method = get_method(recipe.method)
    names = ["model", "expert", "sft", "eval_sft_valid", "eval_sft_test"]
    for i in range(1, recipe.iterations + 1):
        names += [f"iter{i}/{s}" for s in method.iteration_stages(recipe, i)] + [f"iter{i}/eval_valid"]
    if recipe.iterations:
        names += ["select", "eval_best_test"]
    return names + ["report"]


def stage0_keys(recipe: Recipe) -> dict[str, str]:
    """The keys of the shared stage-0 stages: hashes of exactly the settings each depends on (plus the
    format version), so methods that agree on them share one model, expert set, SFT model and SFT score."""
    from harness.types import content_hash

    r, d = recipe, recipe.data
    base = {"v": 1, "seed": r.seed, "env": dataclasses.asdict(r.env)}
    publishing = {"registry": d.registry, "publish": d.publish, "repo_prefix": d.repo_prefix}
    model = {**base, "model": dataclasses.asdict(r.model)}
    expert = {**base, "train_split": d.train_split, "train_tasks": d.train_tasks, **publishing}
    # where the work runs is part of what it produced: training processes for SFT, the backend for evaluation
    # in-context examples change the SFT rows and every evaluated prompt; at 0-shot the key is left out
    # so the shared folders of earlier runs stay valid (the scripted expert does not read prompts)
    prompt = {"prompt": r.prompt.hashed()} if r.prompt.hashed() is not None else {}
    sft = {**model, **expert, **prompt, "sft": dataclasses.asdict(r.sft),
           "train_processes": r.execution.train_processes, "accelerate_config": r.execution.accelerate_config if r.execution.train_processes > 1 else None}  # fmt: skip
    evaluation = {**sft, "evaluate": dataclasses.asdict(r.evaluate), "backend": r.execution.backend}
    return {
        "model": content_hash(model),
        "expert": content_hash(expert),
        "sft": content_hash(sft),
        "eval_sft_valid": content_hash({**evaluation, "valid_split": d.valid_split, "valid_tasks": d.valid_tasks}),
        "eval_sft_test": content_hash({**evaluation, "test_split": d.test_split, "test_tasks": d.test_tasks}),
    }


def explore_subset(expert_ids: list[str], recipe: Recipe, iteration: int) -> list[str]:
    """The expert tasks a method works on in ``iteration``: all, or a seeded sample per iteration."""
    k = recipe.data.explore_tasks
    if k is None or k >= len(expert_ids):
        return list(expert_ids)
    return sorted(random.Random(f"explore:{recipe.seed}:{iteration}").sample(expert_ids, k), key=expert_ids.index)


def run_recipe(recipe: Recipe, runs_dir: str | Path = "runs", run_id: str | None = None) -> Run:
    """Run (or resume) ``recipe`` with its method's pipeline; return the run."""
    method = get_method(recipe.method)
    run = Run(recipe, runs_dir, run_id)
    ctx = Context(run)
    ctx.executor.check()
    keys = stage0_keys(recipe)
    model = run.stage("model", lambda d: stages.init_model(ctx, d), keys["model"])["path"]
    run.stage("expert", lambda d: stages.expert_trajectories(ctx, d), keys["expert"])
    sft = run.stage("sft", lambda d: stages.sft(ctx, d, model), keys["sft"])["path"]
    run.stage("eval_sft_valid", lambda d: stages.evaluate(ctx, d, sft, "valid", "SFT"), keys["eval_sft_valid"])
    run.stage("eval_sft_test", lambda d: stages.evaluate(ctx, d, sft, "test", "SFT"), keys["eval_sft_test"])
    policy = sft
    expert_ids = [t.task_id for t in ctx.load_experts()]
    for i in range(1, recipe.iterations + 1):
        chosen = explore_subset(expert_ids, recipe, i)
        policy = method.iteration(ctx, i, policy, sft, chosen)
        label = f"{method.label} iteration {i}"
        run.stage(f"iter{i}/eval_valid", lambda d, p=policy, label=label: stages.evaluate(ctx, d, p, "valid", label))
    if recipe.iterations:
        best = run.stage("select", lambda d: stages.select_best(ctx, d))
        label = f"{method.label} (iteration {best['iteration']})"
        run.stage("eval_best_test", lambda d: stages.evaluate(ctx, d, best["path"], "test", label))
    run.stage("report", lambda d: stages.report(ctx, d, method))
    return run


def describe(recipe: Recipe) -> dict[str, Any]:
    """What ``--dry-run`` prints: the resolved recipe, its seed, its hash and the stage plan.

    ``config.sft.seed`` is left out of the printout: it is part of the hashed recipe (so existing run
    ids stay valid) but the SFT stage uses the top-level ``seed``, shown on its own."""
    config = recipe.to_dict()
    config["sft"].pop("seed", None)
    return {"recipe": recipe.name, "preset": recipe.preset, "seed": recipe.seed, "config_hash": recipe.config_hash,
            "stages": plan(recipe), "config": config}
