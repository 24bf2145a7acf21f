"""The execution seam: the one place that decides where a recipe's work runs.

Stages hold the algorithm and ask an :class:`Executor` for three things:

- ``policy(model)``: a policy for a model, served by the recipe's backend (``execution.backend``) and
  released when the stage is done with it (a vLLM engine's GPU memory is free before training);
- ``rollouts(folder, specs, model, sampling)``: episodes of a list of :class:`EpisodeSpec` (explore,
  Monte-Carlo, inspection, sampling, evaluation, the leaderboard's action-efficiency scorer), in
  fixed checkpointed chunks merged in spec order, played here or on Ray workers
  (``execution.workers`` / ``execution.ray_address``);
- ``train(job)``: a training job, in-process or through ``accelerate launch``.

No stage imports a backend: a backend is a policy class registered in
:data:`harness.policies.specs.BACKENDS`.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from harness.execution.checkpoints import chunks_of, read_jsonl, write_json_atomic, write_jsonl_atomic
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
                 log: Callable[[str], None] = print, icl_messages: Sequence[dict[str, str]] = ()):  # fmt: skip
        """``make_env`` builds one episode environment; ``label_root``: model paths under it are named
        relative to it (so trajectories do not depend on where the runs folder lives);
        ``icl_messages``: in-context example turns in the prompt of every episode played (a recipe's
        ``prompt.icl``; none = 0-shot)."""
        self.settings = settings
        self.make_env = make_env
        self.label_root = label_root
        self.log = log
        self.icl_messages = [dict(m) for m in icl_messages]

    def check(self) -> None:
        """Fail before the first stage when the recipe's backend cannot run here (not installed)."""
        from harness.policies.specs import BACKENDS

        reason = getattr(BACKENDS.get(self.settings.backend), "unavailable_reason", lambda: None)()
        if reason:
            raise ValueError(f"execution.backend '{self.settings.backend}' cannot run here: {reason} "
                             "(a recipe: --set execution.backend=hf runs its rollouts on transformers)")
        if self.settings.distributed:
            from importlib.util import find_spec

            if find_spec("ray") is None:
                raise ValueError(f"execution.workers = {self.settings.workers} needs Ray, which is not installed: "
                                 "pip install -e '.[ray]' (or set execution.workers=1)")  # fmt: skip

    # --- policies ------------------------------------------------------------------------------
    def spec(self, model: str) -> str:
        """The policy spec of ``model`` on this executor's backend, e.g. ``vllm:runs/x/sft/model``; a
        full policy spec (``random``, ``openai:URL#MODEL``, ``hf:PATH``) is served as it is."""
        from harness.policies.specs import is_policy_spec

        return model if is_policy_spec(model) else f"{self.settings.backend}:{model}"

    def label(self, model: str) -> str:
        """The policy name recorded in trajectories: the backend and the path inside the runs folder."""
        if self.label_root is not None:
            try:
                return f"{self.settings.backend}:{Path(model).resolve().relative_to(self.label_root.resolve())}"
            except ValueError:  # a base model outside the run keeps its own name
                pass
        return self.spec(model)

    def policy_args(self, model: str) -> tuple[str, str, dict[str, Any]]:
        """``(spec, label, options)`` that build ``model``'s policy on this executor's backend."""
        options: dict[str, Any] = {}
        if self.settings.backend == "vllm":
            options["gpu_memory_utilization"] = self.settings.gpu_memory_utilization
        return self.spec(model), self.label(model), options

    @contextmanager
    def policy(self, model: str) -> Iterator[Policy]:
        """The model at ``model`` behind the recipe's backend, released on exit (engine stopped, memory freed)."""
        from harness.policies import make_policy

        spec, label, options = self.policy_args(model)
        policy = make_policy(spec, **options)
        policy.name = label
        try:
            yield policy
        finally:
            release(policy)

    # --- rollouts ------------------------------------------------------------------------------
    def play(self, policy: Policy, specs: Sequence[EpisodeSpec], sampling: Sampling) -> list[Trajectory]:
        """Play ``specs`` with ``policy`` in memory and return the trajectories in spec order."""
        return play_specs(self.make_env, specs, policy, sampling, icl_messages=self.icl_messages)

    def rollouts(
        self, folder: Path, specs: Sequence[EpisodeSpec], model: str, sampling: Sampling,
        row: Callable[[Trajectory], dict[str, Any]] = Trajectory.to_dict, chunk_size: int = EPISODE_CHUNK,
    ) -> list[dict[str, Any]]:  # fmt: skip
        """Every spec's episode as ``row(trajectory)``, in spec order, checkpointed in fixed chunks
        under ``folder``: finished chunks are read back, and the model is loaded only if one is missing.
        With ``execution.workers`` > 1 (or a Ray address) the missing chunks are played on Ray
        workers (:mod:`harness.execution.ray_workers`), else here; the rows are the same either way.
        ``folder/policy.json`` records the provenance of the policy that played."""
        folder.mkdir(parents=True, exist_ok=True)
        parts = chunks_of(list(specs), chunk_size)
        missing = [(k, part) for k, part in parts if not chunk_path(folder, k).exists()]
        if missing and self.settings.distributed:
            from harness.execution.ray_workers import play_on_ray

            play_on_ray(self.settings, folder, missing, self.make_env, *self.policy_args(model), sampling, row, self.log,
                        icl_messages=self.icl_messages)  # fmt: skip
        elif missing:
            from harness.envs.pool import EnvPool

            envs = EnvPool(self.make_env)
            with self.policy(model) as policy:
                write_json_atomic(folder / "policy.json", getattr(policy, "provenance", {}))
                for k, part in missing:
                    rows = [row(t) for t in play_chunk(envs, policy, part, sampling, self.icl_messages)]
                    write_jsonl_atomic(chunk_path(folder, k), rows)
            envs.close()
        return [r for k, _ in parts for r in read_jsonl(chunk_path(folder, k))]

    @staticmethod
    def served(folder: Path) -> dict[str, Any]:
        """The provenance of the policy that played the rollouts in ``folder`` (empty if none did)."""
        path = folder / "policy.json"
        return json.loads(path.read_text()) if path.exists() else {}

    # --- training ------------------------------------------------------------------------------
    def train(self, job: Any, rows: Sequence[dict[str, Any]]) -> dict[str, Any]:
        """Run training ``job`` (a :class:`harness.execution.jobs.TrainingJob`) on ``rows``: in this
        process when ``train_processes`` is 1, else through ``accelerate launch``. Resumes from the
        job's newest checkpoint. Returns the trainer's result (``path`` = the saved model)."""
        from harness.execution.jobs import run_job
        from harness.execution.launch import launch_job

        from harness.training.trainer_io import batch_split

        section = {"sft": "sft", "preference": "train", "discriminator": "discriminator",
                   "reward_model": "estimate.reward_model"}.get(job.kind)
        if section is not None:  # a batch that cannot be split is the user's to fix: say so before launching
            batch_split(job.settings["batch_size"], job.settings["per_device_batch_size"], section,
                        processes=self.settings.train_processes)  # fmt: skip
        job.gradient_checkpointing = self.settings.gradient_checkpointing
        job.checkpoint_every_s = self.settings.checkpoint_every_s
        path = job.write(rows)
        if self.settings.train_processes == 1:
            return run_job(job)
        return launch_job(path, self.settings, self.log)

    def provenance(self) -> dict[str, Any]:
        """Backend, its version and process counts, for manifests and results."""
        return self.settings.provenance()


def chunk_path(folder: Path, k: int) -> Path:
    """The file of chunk ``k`` of a checkpointed stage."""
    return folder / f"chunk-{k:05d}.jsonl"


def play_chunk(envs: Any, policy: Policy, specs: Sequence[EpisodeSpec], sampling: Sampling,
               icl_messages: Sequence[dict[str, str]] = ()) -> list[Trajectory]:  # fmt: skip
    """One chunk's episodes, played as one batch (``icl_messages`` in every prompt). The policy forgets
    its cached prompt prefixes first, so a chunk's replies depend on the chunk alone, not on what the
    worker played before."""
    clear = getattr(policy, "clear_prefixes", None)
    if clear is not None:
        clear()
    return play_specs(envs, specs, policy, sampling, icl_messages=icl_messages)


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

