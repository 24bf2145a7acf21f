"""The two recipe stages of IPR's learned step reward model (§5.5; the rules are in
:mod:`harness.methods.reward_model`): ``iter1/reward_model`` (download by commit, train, measure,
card) and the estimate of iterations >= 2 (one forward pass per action instead of N rollouts)."""

from __future__ import annotations

import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.execution.checkpoints import write_json_atomic, write_jsonl_atomic
from harness.methods.reward_model import SCORER_PREFIX, agreement, clip, held_out_tasks, labelled_examples, pair_decisions
from harness.types import StepReward

if TYPE_CHECKING:
    from harness.pipeline.context import Context

CARD = "README.md"


def sources(ctx: Context, i: int) -> dict[str, dict[str, Any]]:
    """The published datasets the model learns from: iteration ``i``'s explored trajectories and
    step rewards and the run's expert trajectories, each as repo, config, split and commit."""
    run = ctx.run
    records = {
        "expert_trajectories": (run.manifest("expert"), "train"),
        "explored_trajectories": (run.manifest(f"iter{i}/explore"), f"iter{i}"),
        "step_rewards": (run.manifest(f"iter{i}/estimate"), f"iter{i}"),
    }
    out = {}
    for config, (manifest, split) in records.items():
        pub = (manifest or {}).get("published") or {}
        if not pub.get("commit"):
            raise ValueError(f"estimate.method=learned trains on the registry's published {config}, but this run did not "
                             "publish it: set data.publish=true (the local registry needs no account)")  # fmt: skip
        out[config] = {"repo": pub["repo"], "config": config, "split": split, "tag": pub["tag"], "commit": pub["commit"],
                       "rows": pub["rows"], "content_hash": pub["content_hash"]}  # fmt: skip
    return out


def download(ctx: Context, src: dict[str, dict[str, Any]]):
    """(expert trajectories, explored trajectories, step rewards) at exactly the recorded commits."""
    from harness.data.registries import make_registry
    from harness.data.rows import step_reward_from_row, trajectory_from_row

    registry = make_registry(ctx.recipe.data.registry)

    def rows(config: str) -> list[dict[str, Any]]:
        s = src[config]
        return list(registry.load(s["repo"], config, s["split"], revision=s["commit"]))

    experts = [trajectory_from_row(r) for r in rows("expert_trajectories")]
    explored = [trajectory_from_row(r) for r in rows("explored_trajectories")]
    return experts, explored, [step_reward_from_row(r) for r in rows("step_rewards")]


def train(ctx: Context, d: Path, sft: str, i: int = 1) -> dict[str, Any]:
    """Train the step reward model on iteration ``i``'s published Monte-Carlo labels and measure its
    held-out agreement (module doc of :mod:`harness.methods.reward_model`)."""
    from harness.execution.jobs import TrainingJob
    from harness.leaderboard.scoring import weights_sha256
    from harness.training.reward_model import predict_step_rewards

    r, section = ctx.recipe, ctx.recipe.estimate.reward_model
    src = sources(ctx, i)
    experts, explored, labels = download(ctx, src)
    examples = labelled_examples(labels, experts + explored, ctx.icl_messages)
    held = held_out_tasks([ex["task_id"] for ex in examples], section.held_out, r.seed)
    learn = [ex for ex in examples if not ex["terminal"] and ex["task_id"] not in held]
    job = TrainingJob("reward_model", sft, str(d), section.training(), r.seed)
    out = ctx.executor.train(job, [{"prompt": ex["prompt"], "action": ex["action"], "value": ex["value"]} for ex in learn])
    path = str(out["path"])

    # held-out agreement: the model's r_s (clipped) vs Monte-Carlo, action by action and pair by pair
    test = [ex for ex in examples if ex["task_id"] in held and not ex["terminal"]]
    preds = [clip(p) for p in predict_step_rewards(path, [(ex["prompt"], ex["action"]) for ex in test], section.score_batch_size)]
    mc = {(lab.trajectory_id, lab.step_index): lab for lab in labels}
    rm = dict(mc)
    for ex, p in zip(test, preds, strict=True):
        k = (ex["trajectory_id"], ex["step"])
        rm[k] = StepReward(k[0], k[1], SCORER_PREFIX + "held-out", 0, 0.0, r.seed, p)
    held_experts = [e for e in experts if e.task_id in held]
    held_explored = [x for x in explored if x.task_id in held]
    by_task = {e.task_id: e for e in held_experts}
    both = [((by_task[x.task_id].id, x.prefix_steps), (x.id, x.prefix_steps)) for x in held_explored
            if x.prefix_steps >= 1 and (by_task[x.task_id].id, x.prefix_steps) in mc and (x.id, x.prefix_steps) in mc]  # fmt: skip
    stats = agreement([ex["value"] for ex in test], preds,
                      pair_decisions(held_experts, held_explored, mc, r.pairs), pair_decisions(held_experts, held_explored, rm, r.pairs),
                      r.pairs.tau, [(mc[a].value, mc[b].value) for a, b in both], [(rm[a].value, rm[b].value) for a, b in both])  # fmt: skip
    write_jsonl_atomic(d / "held_out.jsonl", [{"trajectory_id": ex["trajectory_id"], "step": ex["step"], "task_id": ex["task_id"],
                                               "mc": ex["value"], "rm": p} for ex, p in zip(test, preds, strict=True)])  # fmt: skip
    result = {
        "path": path, "base_model": sft, "sources": src, "labelled_actions": len(examples),
        "terminal_actions": sum(ex["terminal"] for ex in examples), "train_actions": len(learn),
        "train_tasks": len({ex["task_id"] for ex in examples} - held), "held_out_tasks": sorted(held),
        "held_out_actions": len(test), "agreement": stats, "train_mse": out["train_mse"], "train_loss": out["train_loss"],
        "truncated": out["truncated"], "resumed_from": out.get("resumed_from"), "settings": asdict(section),
        "weights_sha256": weights_sha256(Path(path)),
    }  # fmt: skip
    write_card(Path(path), ctx, result)
    a = stats
    ctx.log(f"[iter{i}/reward_model] {len(learn)} actions; held-out ({len(test)} actions): pearson {_f(a['pearson'])}, "
            f"spearman {_f(a['spearman'])}, pair decisions agree {_f(a['pair_decision_agreement'])}")  # fmt: skip
    return result


def _f(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def write_card(model: Path, ctx: Context, m: dict[str, Any]) -> None:
    """The model card (README.md in the model folder, written atomically): what it was trained on
    (repo, config, split, tag and commit of each dataset), how, and how well it agrees with MC."""
    a, r = m["agreement"], ctx.recipe
    data = "\n".join(f"| {s['config']} | `{s['repo']}` | {s['split']} | `{s['tag']}` | `{s['commit']}` | {s['rows']} |"
                     for s in m["sources"].values())  # fmt: skip
    settings = "\n".join(f"| {k} | {v} |" for k, v in m["settings"].items())
    text = f"""---
library_name: transformers
pipeline_tag: text-classification
tags: [harness, ipr, step-reward-model, regression]
base_model: {m['base_model']}
---

# Step reward model (IPR §5.5 variant), {r.name} run {ctx.run.run_id}

A regressor (sequence-classification head, one output, MSE loss) that predicts the Monte-Carlo step
reward r_s of an action from the conversation up to and including it; it replaces the Monte-Carlo
rollouts of IPR's estimate stage in iterations >= 2 of the run (IPR §5.5: "learned step reward
model", 68.9 vs 71.3 with Monte-Carlo on WebShop in the paper; trained there on 70k actions).

- Base model: the run's SFT model `{m['base_model']}` (the Monte-Carlo scorer), with a new head.
- Output: f(s, a), clipped to [0, 1] when used; terminal actions are not scored by it (they keep the
  environment's outcome, as under Monte-Carlo).
- Weights sha256 (safetensors): `{m['weights_sha256']}`.
- Reproduce: `harness reproduce {r.name} --preset {r.preset} --seed {r.seed} --set estimate.method=learned`.

## Training data (downloaded from the `{r.data.registry}` registry by commit)

| config | repo | split | tag | commit | rows |
|---|---|---|---|---|---|
{data}

{m['labelled_actions']} scored actions ({m['terminal_actions']} terminal, left out); {m['train_actions']} non-terminal
actions of {m['train_tasks']} tasks trained on; {len(m['held_out_tasks'])} tasks held out (seeded) for the figures below.

## Held-out agreement with Monte-Carlo ({a['actions']} actions, {a['pair_decisions']} step-pair decisions)

| figure | value |
|---|---|
| Pearson r (RM vs MC) | {_f(a['pearson'])} |
| Spearman rho | {_f(a['spearman'])} |
| mean absolute error | {_f(a['mae'])} |
| IPR step-pair decision agrees (tau = {a['tau']}) | {_f(a['pair_decision_agreement'])} |
| step-reward comparison agrees (sign beyond tau) | {_f(a['step_comparison_agreement'])} |

Training MSE on its own examples: {_f(m['train_mse'])}.

## Settings (recipe `estimate.reward_model`; the paper gives none)

| key | value |
|---|---|
{settings}
"""
    tmp = model / (CARD + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, model / CARD)


def estimate_learned(ctx: Context, d: Path, i: int) -> dict[str, Any]:
    """r_s of iteration ``i``'s targets (the explored actions a'_{j+1} and the expert's a_{j+1}) from
    the step reward model: one forward pass per non-terminal action; terminal actions keep the
    environment's outcome. Also counts the Monte-Carlo rollouts this replaces (planned, not played)."""
    import time

    from harness.methods.ipr import cached_rewards, estimate_targets
    from harness.pairs.ipr import prompt_at
    from harness.pipeline.context import read_trajectories
    from harness.rewards.monte_carlo import plan_rollouts
    from harness.training.reward_model import predict_step_rewards

    r, e = ctx.recipe, ctx.recipe.estimate
    model = ctx.run.manifest("iter1/reward_model")["path"]
    explored, experts = read_trajectories(ctx.iteration_file(i, "explore", "explored.jsonl")), ctx.load_experts()
    budget = ctx.make_env().max_steps
    targets = estimate_targets(explored, experts)  # the expert actions too: one scorer within a pair
    fixed = plan_rollouts(targets, 1, r.seed, budget).fixed
    scored = [k for k in range(len(targets)) if k not in fixed]
    started = time.perf_counter()
    # the histories with the in-context example turns the model was trained on (``prompt.icl``)
    items = [(list(prompt_at(*targets[k], ctx.icl_messages)), targets[k][0].steps[targets[k][1]].text) for k in scored]
    preds = predict_step_rewards(model, items, e.reward_model.score_batch_size)
    seconds = time.perf_counter() - started
    values = {k: clip(p) for k, p in zip(scored, preds, strict=True)}
    name = SCORER_PREFIX + ctx.executor.label(model).split(":", 1)[-1]
    rows = [asdict(StepReward(traj.id, t, name, 0, 0.0, r.seed, fixed[k].value if k in fixed else values[k], (), k in fixed))
            for k, (traj, t) in enumerate(targets)]  # fmt: skip
    # what Monte-Carlo would have played here: its own targets (expert actions scored before are reused)
    mc_targets = estimate_targets(explored, experts, set(cached_rewards(ctx, i)))
    avoided = len(plan_rollouts(mc_targets, e.n, r.seed, budget).specs)
    write_jsonl_atomic(d / "step_rewards.jsonl", rows)
    write_json_atomic(d / "cost.json", {"rollouts_avoided": avoided, "forward_passes": len(scored), "scoring_seconds": seconds})
    published = ctx.publish(d, "step_rewards", f"iter{i}", rows)
    return {"n": len(rows), "reused": 0, "mean": sum(x["value"] for x in rows) / max(len(rows), 1), "scorer": "reward_model",
            "reward_model": model, "forward_passes": len(scored), "terminal": len(fixed), "rollouts": 0,
            "rollouts_avoided": avoided, "scoring_seconds": round(seconds, 2), "published": published}  # fmt: skip
