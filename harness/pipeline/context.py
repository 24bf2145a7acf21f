"""The plumbing one run's stages share: its environment, its execution seam, its data and publishing.

Stages (:mod:`harness.pipeline.stages` and each method's own in :mod:`harness.methods`) are functions
of a :class:`Context` and their stage folder; the context holds no algorithm.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.execution.checkpoints import read_jsonl
from harness.types import StepReward, Trajectory

if TYPE_CHECKING:
    from harness.pipeline.runner import Run


def read_trajectories(path: Path) -> list[Trajectory]:
    """The trajectories of a JSON-lines file."""
    return [Trajectory.from_dict(r) for r in read_jsonl(path)]


def read_step_rewards(path: Path) -> list[StepReward]:
    """The step rewards of a JSON-lines file."""
    return [StepReward(**{**r, "samples": tuple(r["samples"])}) for r in read_jsonl(path)]


class Context:
    """One run's environment factory, execution seam (:class:`~harness.execution.executor.Executor`),
    expert data and publishing."""

    def __init__(self, run: Run):
        from harness.envs.pool import env_factory
        from harness.execution.executor import Executor
        from harness.prompting import icl_examples

        self.run = run
        self.recipe = run.recipe
        self.log = run.log
        # computed once per run: every stage's prompts (rollouts, SFT rows, pairs, discriminator and
        # reward-model inputs) carry these same turns, so training and generation see one prompt
        self.icl_messages, self.icl_task_ids = icl_examples(self.recipe.env.id, self.env_kwargs, self.recipe.prompt.icl)
        """The recipe's in-context example turns (``prompt.icl``; none at 0-shot) and their train task ids."""
        self.executor = Executor(self.recipe.execution, env_factory(self.recipe.env.id, **self.env_kwargs),
                                 label_root=run.runs_dir, log=run.log, icl_messages=self.icl_messages)  # fmt: skip

    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The environment's factory arguments: the recipe's ``env.kwargs`` and its one step budget."""
        e = self.recipe.env
        return {**e.kwargs, **({"max_steps": e.max_steps} if e.max_steps is not None else {})}

    def make_env(self):
        """A fresh episode environment of the recipe's env (worlds are cached per process)."""
        from harness.envs import make_env

        return make_env(self.recipe.env.id, **self.env_kwargs)

    def task_ids(self, split: str, limit: int | None) -> list[str]:
        """The first ``limit`` task ids of ``split``."""
        ids = self.make_env().task_ids(split)
        return ids[:limit] if limit is not None else ids

    def sampling(self, section: Any, temperature: float | None = None):
        """Generation settings from a recipe section with ``temperature`` and ``max_new_tokens``."""
        from harness.policies import Sampling

        t = section.temperature if temperature is None else temperature
        return Sampling(temperature=t, max_new_tokens=section.max_new_tokens)

    def iteration_file(self, i: int, stage: str, name: str) -> Path:
        """A file a stage of iteration ``i`` wrote, e.g. ``iter1/explore/explored.jsonl``."""
        return self.run.root / f"iter{i}" / stage / name

    def load_experts(self) -> list[Trajectory]:
        """The expert trajectories of this run."""
        return read_trajectories(self.run.folder("expert") / "trajectories.jsonl")

    def publish(self, folder: Path, config: str, split: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Publish ``rows`` as ``config/split`` of the recipe's dataset repo (when the recipe asks)."""
        if not self.recipe.data.publish:
            return {}
        from harness.pipeline.publishing import publish_rows

        expert_ids = {t.task_id: t.id for t in self.load_experts()} if config == "explored_trajectories" else None
        shared = self.run.runs_dir.resolve() / "_shared" in folder.resolve().parents
        return publish_rows(self.run, folder, config, split, rows, expert_ids, shared=shared)
