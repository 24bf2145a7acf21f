"""RFT, rejection-sampling fine-tuning (Yuan et al. 2023), as the IPR/ETO papers' baseline: sample the
agent on the train tasks, keep its successful episodes, SFT on the expert data plus the kept ones."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.execution.checkpoints import read_jsonl
from harness.methods.base import Method
from harness.types import Trajectory

if TYPE_CHECKING:
    from harness.pipeline.context import Context


@dataclass
class RFTSection:
    """Rejection-sampling fine-tuning: SFT on expert data plus the agent's own successful episodes."""

    samples: int = 1
    """Episodes sampled per task and iteration."""
    temperature: float = 1.0
    max_new_tokens: int = 512
    success_threshold: float = 1.0
    """An agent episode is kept when its final reward is at least this (1.0 = WebShop's exact match)."""
    start_from: str = "base"
    """``base``: SFT again from the initial model on expert + kept episodes (as for stage 0);
    ``policy``: continue from the current policy."""


def kept_episodes(ctx: Context, upto: int) -> list[Trajectory]:
    """The agent's own episodes of iterations 1..upto whose final reward reaches ``rft.success_threshold``
    (each distinct trajectory once, in iteration order)."""
    kept: dict[str, Trajectory] = {}
    for k in range(1, upto + 1):
        for row in read_jsonl(ctx.iteration_file(k, "explore", "explored.jsonl")):
            t = Trajectory.from_dict(row)
            if t.final_reward >= ctx.recipe.rft.success_threshold:
                kept.setdefault(t.id, t)
    return list(kept.values())


def rft_sft(ctx: Context, d: Path, policy: str, i: int) -> dict[str, Any]:
    """RFT's update: SFT on the expert trajectories plus every kept agent episode so far, starting from
    the initial model (``rft.start_from: base``, like stage 0) or from the current policy."""
    from harness.pipeline import stages

    kept = kept_episodes(ctx, i)
    start = ctx.run.manifest("model")["path"] if ctx.recipe.rft.start_from == "base" else policy
    ctx.log(f"[iter{i}/sft] {len(kept)} successful agent episodes join the expert data")
    out = stages.sft(ctx, d, start, ctx.load_experts() + kept)
    return {**out, "kept_agent_episodes": len(kept), "start_from": ctx.recipe.rft.start_from}


def _iteration(ctx: Context, i: int, policy: str, sft: str, chosen: list[str]) -> str:
    from harness.pipeline import stages

    cfg = ctx.recipe.rft
    ctx.run.stage(f"iter{i}/explore", lambda d: stages.explore(ctx, d, policy, chosen, all_prefixes=False, section=cfg,
                                                              samples=cfg.samples))  # fmt: skip
    return ctx.run.stage(f"iter{i}/sft", lambda d: rft_sft(ctx, d, policy, i))["path"]


METHOD = Method("rft", "RFT", ("rft",), lambda recipe: ["explore", "sft"], _iteration)
