"""StepAgent-Inverse (Deng et al. 2024), the inverse-RL variant: a discriminator D(s, a) learns to tell
the expert's action from the agent's at each inspected expert prefix, then a KL-regularised policy
gradient (TRL GRPO) raises the policy's discriminator reward r(s, a) on single-step episodes.

The discriminator's reward convention is :data:`harness.training.discriminator.REWARD_CONVENTION`;
the policy-gradient settings (KL coefficient, entropy bonus, samples per state) are the recipe's
``policy_gradient``; the reference is ``train.reference`` (the recipes use ``previous``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.execution.jobs import TrainingJob
from harness.methods.base import Method
from harness.pairs.ipr import prompt_at
from harness.pairs.stepagent import inspected_step, same_action
from harness.types import Trajectory

if TYPE_CHECKING:
    from harness.pipeline.context import Context


def discriminator_examples(experts: list[Trajectory], inspected: list[Trajectory], drop_equal: bool,
                           icl_messages: Sequence[dict[str, str]] = ()) -> list[dict[str, Any]]:  # fmt: skip
    """(state, action, label) rows: each inspected expert prefix's expert action (label 1, once per
    prefix) and every agent sample there (label 0; equal-to-expert samples dropped when asked). The
    state is the history the policy acted on, its in-context example turns (``icl_messages``) included."""
    by_task = {e.task_id: e for e in experts}
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, int]] = set()
    for x in inspected:
        e = by_task.get(x.task_id)
        hit = inspected_step(e, x) if e is not None else None
        if hit is None:
            continue
        j = hit[0]
        state = list(prompt_at(e, j, icl_messages))
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
    from harness.methods.inspection import inspected
    from harness.training.discriminator import REWARD_CONVENTION, check_examples

    examples = discriminator_examples(ctx.load_experts(), inspected(ctx, i), ctx.recipe.inspect.drop_equal, ctx.icl_messages)
    check_examples(examples)  # here, not inside a launched job: the error reaches the user as it is
    start = policy if i == 1 else ctx.run.manifest(f"iter{i - 1}/discriminator")["path"]
    out = ctx.executor.train(TrainingJob("discriminator", start, str(d), ctx.recipe.discriminator, ctx.recipe.seed), examples)
    ctx.log(f"[iter{i}/discriminator] {len(examples)} examples, train accuracy {out['train_accuracy']:.3f}")
    return {**{k: v for k, v in out.items() if k != "path"}, "path": str(out["path"]), "start_from": start,
            "reward_convention": REWARD_CONVENTION}  # fmt: skip


def policy_update(ctx: Context, d: Path, policy: str, reference: str, disc: str, i: int) -> dict[str, Any]:
    """The KL-regularised policy-gradient step of cycle ``i`` on single-step episodes: every inspected
    expert prefix is a state (with the run's in-context example turns, as the discriminator saw it);
    replies are rewarded by the discriminator r(s, a)."""
    from harness.methods.inspection import inspected
    from harness.training.discriminator import REWARD_CONVENTION

    experts = {e.task_id: e for e in ctx.load_experts()}
    states: dict[tuple[str, int], list[dict[str, str]]] = {}
    for x in inspected(ctx, i):
        e = experts.get(x.task_id)
        if e is not None and inspected_step(e, x) is not None:
            states.setdefault((x.task_id, x.prefix_steps), list(prompt_at(e, x.prefix_steps, ctx.icl_messages)))
    if not states:
        raise ValueError(f"iteration {i}: inspection left no expert prefix to train the policy on")
    job = TrainingJob("policy_gradient", policy, str(d), ctx.recipe.policy_gradient, ctx.recipe.seed, reference=reference,
                      reward_model=disc, reward_batch_size=ctx.recipe.discriminator.per_device_batch_size)  # fmt: skip
    out = ctx.executor.train(job, [{"prompt": p} for p in states.values()])
    ctx.log(f"[iter{i}/policy] discriminator reward {out['reward_first']:.3f} -> {out['reward_last']:.3f}")
    return {**{k: v for k, v in out.items() if k != "path"}, "path": str(out["path"]), "states": len(states),
            "reference": reference, "reward_convention": REWARD_CONVENTION,
            "settings": asdict(ctx.recipe.policy_gradient)}  # fmt: skip


def _iteration(ctx: Context, i: int, policy: str, sft: str, chosen: list[str]) -> str:
    from harness.methods.inspection import inspect
    from harness.pipeline import stages

    run = ctx.run
    run.stage(f"iter{i}/inspect", lambda d: inspect(ctx, d, policy, chosen))
    disc = run.stage(f"iter{i}/discriminator", lambda d: discriminator(ctx, d, policy, i))["path"]
    ref = stages.reference(ctx, sft, policy)
    return run.stage(f"iter{i}/policy", lambda d: policy_update(ctx, d, policy, ref, disc, i))["path"]


# train: only its ``reference`` is read (the policy-gradient settings are ``policy_gradient``)
METHOD = Method("stepagent-inverse", "StepAgent-Inverse", ("inspect", "train", "discriminator", "policy_gradient"),
                lambda recipe: ["inspect", "discriminator", "policy"], _iteration)  # fmt: skip
