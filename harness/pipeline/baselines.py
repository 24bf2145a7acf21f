"""Stages of the baselines that IPR's stages do not already cover (RFT's fine-tuning on kept episodes).

SFT is stage 0 alone and ETO is IPR's exploration (j = 0 only) plus outcome pairs and DPO; both
are wired in :mod:`harness.pipeline.methods` from the shared stages.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.execution.checkpoints import read_jsonl
from harness.pipeline.stages import Context
from harness.types import Trajectory


def kept_episodes(ctx: Context, upto: int) -> list[Trajectory]:
    """The agent's own episodes of iterations 1..upto whose final reward reaches ``rft.success_threshold``
    (each distinct trajectory once, in iteration order)."""
    kept: dict[str, Trajectory] = {}
    for k in range(1, upto + 1):
        for row in read_jsonl(ctx.run.root / f"iter{k}" / "explore" / "explored.jsonl"):
            t = Trajectory.from_dict(row)
            if t.final_reward >= ctx.recipe.rft.success_threshold:
                kept.setdefault(t.id, t)
    return list(kept.values())


def rft_sft(ctx: Context, d: Path, policy: str, i: int) -> dict[str, Any]:
    """RFT's update: SFT on the expert trajectories plus every kept agent episode so far, starting from
    the initial model (``rft.start_from: base``, like stage 0) or from the current policy."""
    kept = kept_episodes(ctx, i)
    start = ctx.run.manifest("model")["path"] if ctx.recipe.rft.start_from == "base" else policy
    ctx.log(f"[iter{i}/sft] {len(kept)} successful agent episodes join the expert data")
    out = ctx.sft(d, start, ctx.load_experts() + kept)
    return {**out, "kept_agent_episodes": len(kept), "start_from": ctx.recipe.rft.start_from}
