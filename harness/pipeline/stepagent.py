"""StepAgent's stages (Deng et al. 2024): pairs from inspection (Implicit), and the discriminator and
policy-gradient update of the inverse-RL variant. Inspection itself is ``Context.inspect``.

Choices the method leaves open are recipe options, recorded in every manifest: the reference model
(``train.reference``; the recipes use ``previous``, the frozen policy of the last cycle), samples per
prefix and dropping equal actions (``inspect``), the discriminator's reward convention
(:data:`harness.training.discriminator.REWARD_CONVENTION`) and the policy-gradient settings
(``policy_gradient``: KL coefficient, entropy bonus lambda, samples per state).
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from harness.pairs.ipr import prompt_at
from harness.pairs.stepagent import build_stepagent_pairs, inspected_step, same_action
from harness.execution.checkpoints import read_jsonl, write_jsonl_atomic
from harness.execution.jobs import TrainingJob
from harness.pipeline.stages import Context
from harness.types import Trajectory


def _inspected(ctx: Context, i: int) -> list[Trajectory]:
    return [Trajectory.from_dict(r) for r in read_jsonl(ctx.run.root / f"iter{i}" / "inspect" / "inspected.jsonl")]


def stepagent_pairs(ctx: Context, d: Path, i: int) -> dict[str, Any]:
    """Step-level pairs of cycle ``i``: expert action chosen, the agent's sampled action rejected."""
    pairs, stats = build_stepagent_pairs(ctx.load_experts(), _inspected(ctx, i), ctx.recipe.inspect.drop_equal)
    rows = [p.to_dict() for p in pairs]
    write_jsonl_atomic(d / "pairs.jsonl", rows)
    published = ctx.publish(d, "pairs", f"iter{i}", rows)
    return {"n": len(rows), "stats": stats, "reference": ctx.recipe.train.reference, "published": published}


def discriminator_examples(experts: list[Trajectory], inspected: list[Trajectory], drop_equal: bool) -> list[dict[str, Any]]:
    """(state, action, label) rows: each inspected expert prefix's expert action (label 1, once per
    prefix) and every agent sample there (label 0; equal-to-expert samples dropped when asked)."""
    by_task = {e.task_id: e for e in experts}
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for x in inspected:
        e = by_task.get(x.task_id)
        hit = inspected_step(e, x) if e is not None else None
        if hit is None:
            continue
        j = hit[0]
        state = list(prompt_at(e, j))
        if (e.task_id, j) not in seen:
            seen.add((e.task_id, j))
            rows.append({"prompt": state, "action": e.steps[j].text, "label": 1})
        if not (drop_equal and same_action(e.steps[j].action, x.steps[j].action)):
            rows.append({"prompt": state, "action": x.steps[j].text, "label": 0})
    return rows


def discriminator(ctx: Context, d: Path, policy: str, i: int) -> dict[str, Any]:
    """Train D(s, a) on expert vs agent actions of cycle ``i``. Cycle 1 starts from the current policy's
    weights with a new one-output head; later cycles continue the previous cycle's discriminator (GAIL
    keeps one discriminator through training)."""
    from harness.training.discriminator import REWARD_CONVENTION, check_examples

    examples = discriminator_examples(ctx.load_experts(), _inspected(ctx, i), ctx.recipe.inspect.drop_equal)
    check_examples(examples)  # here, not inside a launched job: the error reaches the user as it is
    start = policy if i == 1 else ctx.run.manifest(f"iter{i - 1}/discriminator")["path"]
    out = ctx.executor.train(TrainingJob("discriminator", start, str(d), ctx.recipe.discriminator, ctx.recipe.seed), examples)
    ctx.log(f"[iter{i}/discriminator] {len(examples)} examples, train accuracy {out['train_accuracy']:.3f}")
    return {**{k: v for k, v in out.items() if k != "path"}, "path": str(out["path"]), "start_from": start,
            "reward_convention": REWARD_CONVENTION}  # fmt: skip


def policy_update(ctx: Context, d: Path, policy: str, reference: str, disc: str, i: int) -> dict[str, Any]:
    """The KL-regularised policy-gradient step of cycle ``i`` on single-step episodes: every inspected
    expert prefix is a state; replies are rewarded by the discriminator r(s, a)."""
    from harness.training.discriminator import REWARD_CONVENTION

    experts = {e.task_id: e for e in ctx.load_experts()}
    states: dict[tuple[str, int], list[dict[str, str]]] = {}
    for x in _inspected(ctx, i):
        e = experts.get(x.task_id)
        if e is not None and inspected_step(e, x) is not None:
            states.setdefault((x.task_id, x.prefix_steps), list(prompt_at(e, x.prefix_steps)))
    if not states:
        raise ValueError(f"iteration {i}: inspection left no expert prefix to train the policy on")
    job = TrainingJob("policy_gradient", policy, str(d), ctx.recipe.policy_gradient, ctx.recipe.seed, reference=reference,
                      reward_model=disc, reward_batch_size=ctx.recipe.discriminator.per_device_batch_size)  # fmt: skip
    out = ctx.executor.train(job, [{"prompt": p} for p in states.values()])
    ctx.log(f"[iter{i}/policy] discriminator reward {out['reward_first']:.3f} -> {out['reward_last']:.3f}")
    return {**{k: v for k, v in out.items() if k != "path"}, "path": str(out["path"]), "states": len(states),
            "reference": reference, "reward_convention": REWARD_CONVENTION,
            "settings": asdict(ctx.recipe.policy_gradient)}  # fmt: skip
