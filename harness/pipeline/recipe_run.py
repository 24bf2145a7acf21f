"""IPR end to end (METHODS.md): SFT, then K iterations of explore -> estimate -> pairs -> train.

Stages (each a folder under ``runs/<recipe>/<run_id>/`` with a manifest; complete stages are
skipped on a re-run, long ones resume from their last finished chunk):

  model, expert, sft, eval_sft_valid, eval_sft_test,
  iter<i>/explore, iter<i>/estimate, iter<i>/pairs, iter<i>/train, iter<i>/eval_valid   (i = 1..K)
  select (best iteration on validation, never test), eval_best_test, report
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from harness.pipeline import stages
from harness.pipeline.runner import Run
from harness.recipes import Recipe


def plan(recipe: Recipe) -> list[str]:
    """The ordered stage names this recipe will run."""
    names = ["model", "expert", "sft", "eval_sft_valid", "eval_sft_test"]
    for i in range(1, recipe.iterations + 1):
        names += [f"iter{i}/explore", f"iter{i}/estimate", f"iter{i}/pairs", f"iter{i}/train", f"iter{i}/eval_valid"]
    return names + ["select", "eval_best_test", "report"]


def explore_subset(expert_ids: list[str], recipe: Recipe, iteration: int) -> list[str]:
    """The expert trajectories explored in ``iteration``: all, or a seeded sample per iteration."""
    k = recipe.data.explore_tasks
    if k is None or k >= len(expert_ids):
        return list(expert_ids)
    return sorted(random.Random(f"explore:{recipe.seed}:{iteration}").sample(expert_ids, k), key=expert_ids.index)


def run_ipr(recipe: Recipe, runs_dir: str | Path = "runs", run_id: str | None = None) -> Run:
    """Run (or resume) the IPR pipeline of ``recipe``; return the run."""
    run = Run(recipe, runs_dir, run_id)
    ctx = stages.Context(run)
    model = run.stage("model", ctx.init_model)["path"]
    run.stage("expert", ctx.expert_trajectories)
    sft = run.stage("sft", lambda d: ctx.sft(d, model))["path"]
    run.stage("eval_sft_valid", lambda d: ctx.evaluate(d, sft, "valid", "SFT"))
    run.stage("eval_sft_test", lambda d: ctx.evaluate(d, sft, "test", "SFT"))
    policy = sft
    experts = ctx.load_experts()
    for i in range(1, recipe.iterations + 1):
        chosen = explore_subset([t.task_id for t in experts], recipe, i)
        run.stage(f"iter{i}/explore", lambda d, p=policy, c=chosen: ctx.explore(d, p, c))
        run.stage(f"iter{i}/estimate", lambda d, i=i: ctx.estimate(d, sft, i))
        run.stage(f"iter{i}/pairs", lambda d, i=i: ctx.pairs(d, i))
        reference = sft if recipe.train.reference == "sft" else policy
        policy = run.stage(f"iter{i}/train", lambda d, i=i, p=policy, r=reference: ctx.train(d, p, r, i))["path"]
        run.stage(f"iter{i}/eval_valid", lambda d, p=policy, i=i: ctx.evaluate(d, p, "valid", f"IPR iteration {i}"))
    best = run.stage("select", ctx.select_best)
    run.stage("eval_best_test", lambda d: ctx.evaluate(d, best["path"], "test", f"IPR (iteration {best['iteration']})"))
    run.stage("report", ctx.report)
    return run


def describe(recipe: Recipe) -> dict[str, Any]:
    """What ``--dry-run`` prints: the resolved recipe, its hash and the stage plan."""
    return {"recipe": recipe.name, "preset": recipe.preset, "config_hash": recipe.config_hash, "stages": plan(recipe), "config": recipe.to_dict()}
