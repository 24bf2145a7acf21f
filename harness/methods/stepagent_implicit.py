"""StepAgent-Implicit (Deng et al. 2024): at every inspected expert prefix, the expert's action is
preferred to the agent's sampled one; step-level DPO on those pairs (implicit reward)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.execution.checkpoints import write_jsonl_atomic
from harness.methods.base import Method

if TYPE_CHECKING:
    from harness.pipeline.context import Context


def stepagent_pairs(ctx: Context, d: Path, i: int) -> dict[str, Any]:
    """Step-level pairs of cycle ``i``: expert action chosen, the agent's sampled action rejected."""
    from harness.methods.inspection import inspected
    from harness.pairs.stepagent import build_stepagent_pairs

    built, stats = build_stepagent_pairs(ctx.load_experts(), inspected(ctx, i), ctx.recipe.inspect.drop_equal,
                                         ctx.icl_messages)  # fmt: skip
    rows = [p.to_dict() for p in built]
    write_jsonl_atomic(d / "pairs.jsonl", rows)
    published = ctx.publish(d, "pairs", f"iter{i}", rows)
    return {"n": len(rows), "stats": stats, "reference": ctx.recipe.train.reference, "published": published}


def _iteration(ctx: Context, i: int, policy: str, sft: str, chosen: list[str]) -> str:
    from harness.methods.inspection import inspect
    from harness.pipeline import stages

    run = ctx.run
    run.stage(f"iter{i}/inspect", lambda d: inspect(ctx, d, policy, chosen))
    run.stage(f"iter{i}/pairs", lambda d: stepagent_pairs(ctx, d, i))
    return run.stage(f"iter{i}/train", lambda d: stages.train(ctx, d, policy, stages.reference(ctx, sft, policy), i))["path"]


METHOD = Method("stepagent-implicit", "StepAgent-Implicit", ("inspect", "train"),
                lambda recipe: ["inspect", "pairs", "train"], _iteration)  # fmt: skip
