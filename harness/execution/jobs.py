"""Training jobs: a description on disk (``job.json`` + ``job_rows.jsonl``) that one process, or every
process of an ``accelerate launch``, turns into the same training run.

``python -m harness.execution.jobs OUTPUT/job.json`` is what ``accelerate launch`` starts on each
process; the main process writes ``job_result.json`` when the model is saved. Each trainer resumes
from its newest checkpoint in ``OUTPUT/checkpoints``, so a killed job (any process, or the driver)
continues where it stopped when the stage is re-run.

| kind | trainer | rows |
|---|---|---|
| ``sft`` | :func:`harness.training.sft.train_sft` (SFT, RFT) | ``{"messages": [...]}`` (+ ``"icl_turns": [start, stop]`` with in-context examples) |
| ``preference`` | :func:`harness.training.preference_stage.train_preference` (IPR, ETO, StepAgent-Implicit) | ``{"prompt", "chosen", "rejected"}`` |
| ``discriminator`` | :func:`harness.training.discriminator.train_discriminator` (StepAgent-Inverse) | ``{"prompt", "action", "label"}`` |
| ``policy_gradient`` | :func:`harness.training.policy_gradient.train_policy_gradient` (StepAgent-Inverse) | ``{"prompt": [...]}`` |
| ``reward_model`` | :func:`harness.training.reward_model.train_reward_model` (IPR §5.5) | ``{"prompt", "action", "value"}`` |
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.execution.checkpoints import read_jsonl, write_json_atomic, write_jsonl_atomic

class TrainingJobError(RuntimeError):
    """A training job's processes failed; the message holds the end of its log."""


JOB_FILE, ROWS_FILE, RESULT_FILE = "job.json", "job_rows.jsonl", "job_result.json"
KINDS = ("sft", "preference", "discriminator", "policy_gradient", "reward_model")


@dataclass
class TrainingJob:
    """Everything a training process needs: what to train, on what, with which settings, where to."""

    kind: str
    model: str
    """The model trained (or the start of a discriminator)."""
    output: str
    """The stage folder: the model lands in ``output/model``, checkpoints in ``output/checkpoints``."""
    settings: dict[str, Any]
    """The trainer's settings dataclass, as a mapping."""
    seed: int
    reference: str | None = None
    """The frozen reference model (preference, policy_gradient)."""
    reward_model: str | None = None
    """policy_gradient: the discriminator whose r(s, a) rewards the replies."""
    reward_batch_size: int = 8
    gradient_checkpointing: bool = False
    """Recompute activations in the backward pass (set from the recipe's ``execution``)."""
    checkpoint_every_s: float | None = None
    """Also checkpoint whenever this many seconds passed since the last checkpoint (``execution``)."""

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"unknown training job kind '{self.kind}'; known: {', '.join(KINDS)}")
        if dataclasses.is_dataclass(self.settings):
            self.settings = dataclasses.asdict(self.settings)

    def write(self, rows: Sequence[dict[str, Any]]) -> Path:
        """Write the job and its rows into ``output`` (atomically) and return the job file."""
        out = Path(self.output)
        write_jsonl_atomic(out / ROWS_FILE, rows)
        write_json_atomic(out / JOB_FILE, dataclasses.asdict(self))
        return out / JOB_FILE

    @classmethod
    def read(cls, path: str | Path) -> TrainingJob:
        """The job described in ``path`` (a ``job.json``)."""
        return cls(**json.loads(Path(path).read_text()))


def run_job(job: TrainingJob) -> dict[str, Any]:
    """Train as ``job`` says (in this process, which may be one of several) and return the trainer's
    result, with ``path`` (the saved model) and ``resumed_from`` (the checkpoint it went on from, if any)."""
    from harness.training.trainer_io import latest_checkpoint

    rows = read_jsonl(Path(job.output) / ROWS_FILE)
    out = Path(job.output)
    resumed_from = latest_checkpoint(out / "checkpoints")
    memory = {"gradient_checkpointing": job.gradient_checkpointing, "checkpoint_every_s": job.checkpoint_every_s}
    if job.kind == "sft":
        from harness.training.sft import SFTSettings, train_sft

        turns = [tuple(r["icl_turns"]) if r.get("icl_turns") else None for r in rows]
        result = {"path": train_sft(job.model, [r["messages"] for r in rows], out, SFTSettings(**job.settings), **memory,
                                    icl_turns=turns)}  # fmt: skip
    elif job.kind == "preference":
        from harness.training.preference import PreferenceSettings
        from harness.training.preference_stage import train_preference

        result = train_preference(job.model, _need(job, "reference"), rows, out, PreferenceSettings(**job.settings), job.seed, **memory)
    elif job.kind == "discriminator":
        from harness.training.discriminator import DiscriminatorSettings, train_discriminator

        result = train_discriminator(job.model, rows, out, DiscriminatorSettings(**job.settings), job.seed, **memory)
    elif job.kind == "reward_model":
        from harness.training.reward_model import RewardModelSettings, train_reward_model

        result = train_reward_model(job.model, rows, out, RewardModelSettings(**job.settings), job.seed, **memory)
    else:
        from harness.training.discriminator import discriminator_rewards
        from harness.training.policy_gradient import PolicyGradientSettings, train_policy_gradient

        disc, batch = _need(job, "reward_model"), job.reward_batch_size

        def reward_fn(prompts: list[list[dict[str, str]]], replies: list[str]) -> list[float]:
            return discriminator_rewards(disc, list(zip(prompts, replies, strict=True)), batch_size=batch)

        result = train_policy_gradient(job.model, _need(job, "reference"), [r["prompt"] for r in rows], reward_fn, out,
                                       PolicyGradientSettings(**job.settings), job.seed, **memory)  # fmt: skip
    return {"resumed_from": resumed_from, **{k: str(v) if isinstance(v, Path) else v for k, v in result.items()}}


def _need(job: TrainingJob, key: str) -> str:
    value = getattr(job, key)
    if not value:
        raise ValueError(f"a '{job.kind}' training job needs '{key}' ({job.output}/{JOB_FILE})")
    return value


def die_with_parent() -> None:
    """Ask Linux to SIGKILL this process when its parent dies (a no-op elsewhere)."""
    if not sys.platform.startswith("linux"):
        return
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGKILL)
    if os.getppid() == 1:  # the parent was gone before the request took effect
        os._exit(1)


def main(argv: list[str] | None = None) -> int:
    """Entry point of one training process: run the job, and on the main process write its result."""
    die_with_parent()  # a killed launcher (or driver) takes its training processes with it
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m harness.execution.jobs OUTPUT/job.json", file=sys.stderr)
        return 2
    job = TrainingJob.read(args[0])
    result = run_job(job)
    from accelerate import PartialState

    if PartialState().is_main_process:
        write_json_atomic(Path(job.output) / RESULT_FILE, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
