"""What a method is: the stages of one iteration, and the recipe sections it reads.

An iteration takes the current policy and returns the next one; the shared skeleton
(:mod:`harness.pipeline.recipe_run`) runs stage 0 before, evaluates on validation after every
iteration and picks the best iteration on validation. A method's ``sections`` are the recipe
sections it reads besides the shared ones (:data:`SHARED_SECTIONS`): only those are part of its
runs' config hash, and ``--set`` on any other is refused.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from harness.pipeline.context import Context
    from harness.recipes import Recipe

SHARED_SECTIONS = ("env", "model", "prompt", "data", "sft", "evaluate", "execution")
"""Recipe sections every method reads: the environment, the prompts, stage 0 (model, expert data,
SFT) and evaluation."""

Iteration = Callable[["Context", int, str, str, list[str]], str]
"""(context, iteration i, current policy path, SFT model path, chosen expert task ids) -> next policy path."""


@dataclass(frozen=True)
class Method:
    name: str
    label: str
    """How results of this method are named in reports and tables."""
    sections: tuple[str, ...]
    """The recipe sections this method reads besides :data:`SHARED_SECTIONS`."""
    stages: Callable[[Recipe], list[str]]
    """The stage names of one iteration (relative to ``iter<i>/``)."""
    iteration: Iteration
    first_iteration_only: tuple[str, ...] = ()
    """Stages of :attr:`stages` that run in iteration 1 only (IPR's learned step reward model)."""

    def iteration_stages(self, recipe: Recipe, i: int) -> list[str]:
        """The stage names of iteration ``i`` (relative to ``iter<i>/``)."""
        return [s for s in self.stages(recipe) if i == 1 or s not in self.first_iteration_only]
