"""The methods a recipe can name (``method:``): what one iteration of each does, as stages.

An iteration takes the current policy and returns the next one; the shared skeleton
(:mod:`harness.pipeline.recipe_run`) evaluates it on validation after every iteration and picks the
best on validation. Stage names are relative to ``iter<i>/``.

| method | one iteration (METHODS.md) |
|---|---|
| ``sft`` | none: stage 0 alone (``iterations: 0``) |
| ``ipr`` | explore every expert prefix -> MC step rewards -> outcome + step pairs -> DPO + NLL |
| ``eto`` | the agent's own episodes -> expert-vs-failure trajectory pairs -> DPO (reference = current) |
| ``rft`` | the agent's own sampled episodes -> keep the successful -> SFT on expert + kept |
| ``stepagent-implicit`` | inspection -> (expert action, agent action) pairs -> step-level DPO |
| ``stepagent-inverse`` | inspection -> discriminator -> KL-regularised policy gradient on its reward |
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.pipeline.stages import Context
    from harness.recipes import Recipe

Iteration = Callable[["Context", int, str, str, list[str]], str]
"""(context, iteration i, current policy path, SFT model path, chosen expert task ids) -> next policy path."""


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    """How results of this method are named in reports and tables."""
    stages: Callable[[Recipe], list[str]]
    iteration: Iteration


def _reference(ctx: Context, sft: str, policy: str) -> str:
    """pi_ref as the recipe's ``train.reference`` says: the SFT model or the current policy."""
    return sft if ctx.recipe.train.reference == "sft" else policy


def _ipr(ctx: Context, i: int, policy: str, sft: str, chosen: list[str]) -> str:
    run = ctx.run
    run.stage(f"iter{i}/explore", lambda d: ctx.explore(d, policy, chosen))
    run.stage(f"iter{i}/estimate", lambda d: ctx.estimate(d, sft, i))
    run.stage(f"iter{i}/pairs", lambda d: ctx.pairs(d, i))
    return run.stage(f"iter{i}/train", lambda d: ctx.train(d, policy, _reference(ctx, sft, policy), i))["path"]


def _eto(ctx: Context, i: int, policy: str, sft: str, chosen: list[str]) -> str:
    run = ctx.run
    run.stage(f"iter{i}/explore", lambda d: ctx.explore(d, policy, chosen, all_prefixes=False))
    run.stage(f"iter{i}/pairs", lambda d: ctx.pairs(d, i))
    return run.stage(f"iter{i}/train", lambda d: ctx.train(d, policy, _reference(ctx, sft, policy), i))["path"]


def _rft(ctx: Context, i: int, policy: str, sft: str, chosen: list[str]) -> str:
    from harness.pipeline.baselines import rft_sft

    run = ctx.run
    cfg = ctx.recipe.rft
    run.stage(f"iter{i}/explore", lambda d: ctx.explore(d, policy, chosen, all_prefixes=False, section=cfg, samples=cfg.samples))
    return run.stage(f"iter{i}/sft", lambda d: rft_sft(ctx, d, policy, i))["path"]


def _stepagent_implicit(ctx: Context, i: int, policy: str, sft: str, chosen: list[str]) -> str:
    from harness.pipeline.stepagent import stepagent_pairs

    run = ctx.run
    run.stage(f"iter{i}/inspect", lambda d: ctx.inspect(d, policy, chosen))
    run.stage(f"iter{i}/pairs", lambda d: stepagent_pairs(ctx, d, i))
    return run.stage(f"iter{i}/train", lambda d: ctx.train(d, policy, _reference(ctx, sft, policy), i))["path"]


def _stepagent_inverse(ctx: Context, i: int, policy: str, sft: str, chosen: list[str]) -> str:
    from harness.pipeline.stepagent import discriminator, policy_update

    run = ctx.run
    run.stage(f"iter{i}/inspect", lambda d: ctx.inspect(d, policy, chosen))
    disc = run.stage(f"iter{i}/discriminator", lambda d: discriminator(ctx, d, policy, i))["path"]
    return run.stage(f"iter{i}/policy", lambda d: policy_update(ctx, d, policy, _reference(ctx, sft, policy), disc, i))["path"]


METHODS: dict[str, Method] = {
    m.name: m
    for m in (
        Method("sft", "SFT", lambda r: [], lambda ctx, i, policy, sft, chosen: policy),
        Method("ipr", "IPR", lambda r: ["explore", "estimate", "pairs", "train"], _ipr),
        Method("eto", "ETO", lambda r: ["explore", "pairs", "train"], _eto),
        Method("rft", "RFT", lambda r: ["explore", "sft"], _rft),
        Method("stepagent-implicit", "StepAgent-Implicit", lambda r: ["inspect", "pairs", "train"], _stepagent_implicit),
        Method("stepagent-inverse", "StepAgent-Inverse", lambda r: ["inspect", "discriminator", "policy"], _stepagent_inverse),
    )
}


def get_method(name: str) -> Method:
    """The method called ``name``; an unknown name is an error listing the known ones."""
    if name not in METHODS:
        raise ValueError(f"unknown method '{name}'; known: {', '.join(METHODS)}")
    return METHODS[name]
