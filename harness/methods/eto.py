"""ETO (Song et al. 2024), as IPR's baseline: the agent's own episode on each task (j = 0 only),
the expert trajectory preferred to every agent episode that scored lower (IPR's outcome pairs with
``pairs.step_pairs: false``), plain DPO with the current model as reference."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harness.methods.base import Method

if TYPE_CHECKING:
    from harness.pipeline.context import Context


def _iteration(ctx: Context, i: int, policy: str, sft: str, chosen: list[str]) -> str:
    from harness.methods.ipr import pairs
    from harness.pipeline import stages

    run = ctx.run
    run.stage(f"iter{i}/explore", lambda d: stages.explore(ctx, d, policy, chosen, all_prefixes=False))
    run.stage(f"iter{i}/pairs", lambda d: pairs(ctx, d, i))
    return run.stage(f"iter{i}/train", lambda d: stages.train(ctx, d, policy, stages.reference(ctx, sft, policy), i))["path"]


METHOD = Method("eto", "ETO", ("explore", "pairs", "train"), lambda recipe: ["explore", "pairs", "train"], _iteration)
