"""The execution seam: the one place that decides where a recipe's work runs.

Stages hold the algorithm and ask an :class:`Executor` for four things:

- ``policy(model)``: a policy for a model, served by the recipe's backend (``execution.backend``) and
  released when the stage is done with it (a vLLM engine's GPU memory is free before training);
- ``rollouts(folder, specs, model, sampling)``: episodes of a list of :class:`EpisodeSpec` (explore,
  Monte-Carlo, inspection, sampling), in checkpointed chunks, merged in spec order;
- any other checkpointed chunk map: :func:`harness.execution.checkpoints.run_chunked` (the
  leaderboard's action-efficiency scorer uses it);
- ``train(job)``: a training job, in-process or through ``accelerate launch``.

No stage imports a backend: a backend is a policy class registered in
:data:`harness.policies.specs.BACKENDS`.
"""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.execution.checkpoints import chunks_of, read_jsonl, run_chunked
from harness.execution.settings import ExecutionSettings
from harness.policies.base import Policy, Sampling
from harness.rollout import EpisodeSpec, play_specs
from harness.types import Trajectory

EPISODE_CHUNK = 128
"""Episodes per checkpointed chunk (and per batch of the engine): 128 long WebShop episodes of the
tiny model take about 6 GB with the transformers backend (measured; 512 took 17 GB)."""


class Executor:
    """Runs a recipe's rollouts and training jobs as its ``execution`` settings say."""

    def __init__(self, settings: ExecutionSettings, make_env: Callable[[], Any], label_root: Path | None = None,
                 log: Callable[[str], None] = print):  # fmt: skip
        """``make_env`` builds one episode environment; ``label_root``: model paths under it are named
        relative to it (so trajectories do not depend on where the runs folder lives)."""
        self.settings = settings
        self.make_env = make_env
        self.label_root = label_root
        self.log = log

    def check(self) -> None:
        """Fail before the first stage when the recipe's backend cannot run here (not installed)."""
        from harness.policies.specs import BACKENDS

        reason = getattr(BACKENDS.get(self.settings.backend), "unavailable_reason", lambda: None)()
        if reason:
            raise ValueError(f"execution.backend '{self.settings.backend}' cannot run here: {reason}")

    # --- policies ------------------------------------------------------------------------------
    def spec(self, model: str) -> str:
        """The policy spec of ``model`` on this executor's backend, e.g. ``vllm:runs/x/sft/model``."""
        return f"{self.settings.backend}:{model}"

    def label(self, model: str) -> str:
        """The policy name recorded in trajectories: the backend and the path inside the runs folder."""
        if self.label_root is not None:
            try:
                return f"{self.settings.backend}:{Path(model).resolve().relative_to(self.label_root.resolve())}"
            except ValueError:  # a base model outside the run keeps its own name
                pass
        return self.spec(model)

    @contextmanager
    def policy(self, model: str) -> Iterator[Policy]:
        """The model at ``model`` behind the recipe's backend, released on exit (engine stopped, memory freed)."""
        from harness.policies import make_policy

        options: dict[str, Any] = {}
        if self.settings.backend == "vllm":
            options["gpu_memory_utilization"] = self.settings.gpu_memory_utilization
        policy = make_policy(self.spec(model), **options)
        policy.name = self.label(model)
        try:
            yield policy
        finally:
            release(policy)

    # --- rollouts ------------------------------------------------------------------------------
    def play(self, policy: Policy, specs: Sequence[EpisodeSpec], sampling: Sampling) -> list[Trajectory]:
        """Play ``specs`` with ``policy`` in memory and return the trajectories in spec order."""
        return play_specs(self.make_env, specs, policy, sampling)

    def rollouts(
        self, folder: Path, specs: Sequence[EpisodeSpec], model: str, sampling: Sampling,
        row: Callable[[Trajectory], dict[str, Any]] = Trajectory.to_dict, chunk_size: int = EPISODE_CHUNK,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Every spec's episode as ``row(trajectory)``, in spec order, checkpointed in chunks under
        ``folder``: finished chunks are read back, and the model is loaded only if a chunk is missing."""
        folder.mkdir(parents=True, exist_ok=True)
        parts = chunks_of(list(specs), chunk_size)
        if all((folder / f"chunk-{k:05d}.jsonl").exists() for k, _ in parts):
            return [r for k, _ in parts for r in read_jsonl(folder / f"chunk-{k:05d}.jsonl")]
        with self.policy(model) as policy:
            return run_chunked(folder, list(specs), chunk_size,
                               lambda part: [row(t) for t in self.play(policy, part, sampling)])  # fmt: skip

    # --- training ------------------------------------------------------------------------------
    def train(self, job: Any, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Run training ``job`` (a :class:`harness.execution.jobs.TrainingJob`) on ``rows``: in this
        process when ``train_processes`` is 1, else through ``accelerate launch``. Resumes from the
        job's newest checkpoint. Returns the trainer's result (``path`` = the saved model)."""
        from harness.execution.jobs import run_job
        from harness.execution.launch import launch_job

        from harness.training.trainer_io import batch_split

        section = {"sft": "sft", "preference": "train", "discriminator": "discriminator"}.get(job.kind)
        if section is not None:  # a batch that cannot be split is the user's to fix: say so before launching
            batch_split(job.settings["batch_size"], job.settings["per_device_batch_size"], section,
                        processes=self.settings.train_processes)  # fmt: skip
        job.gradient_checkpointing = self.settings.gradient_checkpointing
        path = job.write(rows)
        if self.settings.train_processes == 1:
            return run_job(job)
        return launch_job(path, self.settings, self.log)

    def provenance(self) -> dict[str, Any]:
        """Backend, its version and process counts, for manifests and results."""
        return self.settings.provenance()


def release(policy: Any) -> None:
    """Stop a policy's engine and give its memory back (GPU memory included) before the next job."""
    close = getattr(policy, "close", None)
    if close is not None:
        close()
    gc.collect()
    try:
        import torch

        if torch.cuda.is_available():
            torch.cuda.empty_cache()
    except ImportError:
        pass

