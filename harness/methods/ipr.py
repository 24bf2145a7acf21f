"""IPR (Xiong et al. 2024): step-level process refinement. One iteration: explore from every expert
prefix, estimate Monte-Carlo step rewards (§3.2) of the explored and the expert actions with the
frozen SFT scorer, build outcome + step pairs (§3.3), train the DPO + NLL mixture (§3.4, Eq. 6)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.execution.checkpoints import write_jsonl_atomic
from harness.methods.base import Method
from harness.methods.reward_model import RewardModelSection
from harness.rewards.monte_carlo import DEFAULT_N_ROLLOUTS
from harness.types import StepReward, Trajectory

if TYPE_CHECKING:
    from harness.pipeline.context import Context


@dataclass
class EstimateSection:
    """Step rewards: Monte-Carlo (IPR §3.2), always with the frozen SFT model as the scorer, or the
    learned step reward model of §5.5 trained on iteration 1's Monte-Carlo labels."""

    n: int = DEFAULT_N_ROLLOUTS
    temperature: float = 1.0
    method: str = "monte_carlo"
    """``monte_carlo`` (§3.2: N rollouts per action) or ``learned`` (§5.5: iteration 1 Monte-Carlo,
    then a regressor trained on its published labels scores iterations >= 2)."""
    reward_model: RewardModelSection = field(default_factory=RewardModelSection)
    """The learned model's data split and training settings (read only when ``method`` is ``learned``)."""

    def hashed(self) -> dict:
        """This section as the config hash sees it: the learned model's keys only when it is used, so
        every Monte-Carlo recipe keeps the hash (and run ids) it had before they existed."""
        d = asdict(self)
        if self.method == "monte_carlo":
            d.pop("method")
            d.pop("reward_model")
        return d


def estimate_targets(explored: list[Trajectory], experts: list[Trajectory],
                     done: set[tuple[str, int]] = frozenset()) -> list[tuple[Trajectory, int]]:  # fmt: skip
    """The actions IPR scores in an iteration: every explored action a'_{j+1} taken after an expert
    prefix of j >= 1 steps, and the expert's own a_{j+1} there (unless ``done`` holds its (id, j))."""
    by_task = {t.task_id: t for t in experts}
    targets: list[tuple[Trajectory, int]] = []
    for x in explored:
        j = x.prefix_steps
        if j < 1 or len(x.steps) <= j:
            continue
        targets.append((x, j))
        e = by_task[x.task_id]
        if (e.id, j) not in done:
            targets.append((e, j))
    return targets


def cached_rewards(ctx: Context, before: int) -> dict[tuple[str, int], StepReward]:
    """Step rewards estimated in iterations 1..before-1 (the scorer is fixed, so they stay valid)."""
    from harness.pipeline.context import read_step_rewards

    out: dict[tuple[str, int], StepReward] = {}
    for k in range(1, before):
        for r in read_step_rewards(ctx.iteration_file(k, "estimate", "step_rewards.jsonl")):
            out[(r.trajectory_id, r.step_index)] = r
    return out


def estimate(ctx: Context, d: Path, scorer: str, i: int) -> dict[str, Any]:
    """r_s with the SFT scorer of the explored actions a'_{j+1} (j >= 1) and of the expert actions
    a_{j+1} they are compared with; expert estimates from earlier iterations are reused, not redone.
    The rollouts are planned here and played through the execution seam (checkpointed chunks; only
    their final rewards are kept)."""
    from harness.pipeline.context import read_trajectories
    from harness.rewards.monte_carlo import collect_scores, final_reward_row, plan_rollouts

    r, e = ctx.recipe, ctx.recipe.estimate
    cached = cached_rewards(ctx, i)
    targets = estimate_targets(read_trajectories(ctx.iteration_file(i, "explore", "explored.jsonl")), ctx.load_experts(), set(cached))
    plan = plan_rollouts(targets, e.n, r.seed, ctx.make_env().max_steps)
    finals = ctx.executor.rollouts(d / "chunks", plan.specs, scorer, ctx.sampling(r.explore, e.temperature),
                                   row=final_reward_row)  # fmt: skip
    scores = collect_scores(plan, [f["final_reward"] for f in finals])
    name = ctx.executor.label(scorer)
    rows = [asdict(StepReward(traj.id, t, name, e.n, e.temperature, r.seed, sc.value, sc.samples, sc.terminal))
            for (traj, t), sc in zip(targets, scores, strict=True)]  # fmt: skip
    write_jsonl_atomic(d / "step_rewards.jsonl", rows)
    published = ctx.publish(d, "step_rewards", f"iter{i}", rows)
    return {"n": len(rows), "reused": len(cached), "mean": sum(x["value"] for x in rows) / max(len(rows), 1),
            "rollouts": len(plan.specs), "published": published}  # fmt: skip


def pairs(ctx: Context, d: Path, i: int) -> dict[str, Any]:
    """IPR's outcome and step pairs for iteration ``i`` (ETO: outcome pairs only, by its ``pairs``)."""
    from harness.pairs.ipr import build_ipr_pairs
    from harness.pipeline.context import read_trajectories

    explored = read_trajectories(ctx.iteration_file(i, "explore", "explored.jsonl"))
    rewards = cached_rewards(ctx, i + 1) if ctx.recipe.pairs.step_pairs else {}
    built, stats = build_ipr_pairs(ctx.load_experts(), explored, rewards, ctx.recipe.pairs, ctx.icl_messages)
    rows = [p.to_dict() for p in built]
    write_jsonl_atomic(d / "pairs.jsonl", rows)
    published = ctx.publish(d, "pairs", f"iter{i}", rows)
    return {"n": len(rows), "stats": asdict(stats), "published": published}


def _iteration(ctx: Context, i: int, policy: str, sft: str, chosen: list[str]) -> str:
    from harness.pipeline import stages

    run = ctx.run
    learned = ctx.recipe.estimate.method == "learned"
    run.stage(f"iter{i}/explore", lambda d: stages.explore(ctx, d, policy, chosen))
    if learned and i > 1:  # §5.5: the model trained in iteration 1 replaces the rollouts
        from harness.methods.reward_model_stage import estimate_learned

        run.stage(f"iter{i}/estimate", lambda d: estimate_learned(ctx, d, i))
    else:
        run.stage(f"iter{i}/estimate", lambda d: estimate(ctx, d, sft, i))
    if learned and i == 1:
        from harness.methods import reward_model_stage

        run.stage(f"iter{i}/reward_model", lambda d: reward_model_stage.train(ctx, d, sft, i))
    run.stage(f"iter{i}/pairs", lambda d: pairs(ctx, d, i))
    return run.stage(f"iter{i}/train", lambda d: stages.train(ctx, d, policy, stages.reference(ctx, sft, policy), i))["path"]


def _stages(recipe) -> list[str]:
    if recipe.estimate.method == "learned":
        return ["explore", "estimate", "reward_model", "pairs", "train"]
    return ["explore", "estimate", "pairs", "train"]


METHOD = Method("ipr", "IPR", ("explore", "estimate", "pairs", "train"), _stages, _iteration,
                first_iteration_only=("reward_model",))  # fmt: skip

