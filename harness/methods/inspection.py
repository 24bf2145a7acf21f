"""StepAgent's inspection (Deng et al. 2024), shared by both of its variants: at every expert prefix
j = 0..n-1 the policy samples its own next action; nothing is rolled out after it.

Choices the method leaves open are recipe options, recorded in every manifest: the reference model
(``train.reference``; the recipes use ``previous``, the frozen policy of the last cycle), samples per
prefix and dropping equal actions (``inspect``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.execution.checkpoints import write_jsonl_atomic
from harness.rollout import EpisodeSpec
from harness.types import Trajectory

if TYPE_CHECKING:
    from harness.pipeline.context import Context


@dataclass
class InspectSection:
    """StepAgent's inspection: the agent's own action sampled at every expert prefix."""

    temperature: float = 1.0
    max_new_tokens: int = 512
    samples: int = 1
    """Actions sampled per expert prefix."""
    drop_equal: bool = True
    """Drop samples whose action equals the expert's (no contrast)."""


def inspect(ctx: Context, d: Path, policy_path: str, chosen: list[str]) -> dict[str, Any]:
    """The policy's sampled action at every expert prefix of the chosen tasks (``recipe.inspect``:
    temperature, samples per prefix), played through the execution seam."""
    experts = {t.task_id: t for t in ctx.load_experts()}
    cfg = ctx.recipe.inspect
    # one agent action after the j replayed expert replies: a budget of j + 1 steps
    specs = [EpisodeSpec(tid, ctx.recipe.seed + k, tuple(s.text for s in experts[tid].steps[:j]), j + 1)
             for tid in chosen for j in range(len(experts[tid].steps)) for k in range(cfg.samples)]  # fmt: skip
    rows = ctx.executor.rollouts(d / "chunks", specs, policy_path, ctx.sampling(cfg))
    write_jsonl_atomic(d / "inspected.jsonl", rows)
    published = ctx.publish(d, "explored_trajectories", f"{d.parent.name}_inspect", rows)
    return {"samples": len(rows), "experts": len(chosen), "published": published}


def inspected(ctx: Context, i: int) -> list[Trajectory]:
    """The inspection samples of cycle ``i``."""
    from harness.pipeline.context import read_trajectories

    return read_trajectories(ctx.iteration_file(i, "inspect", "inspected.jsonl"))
