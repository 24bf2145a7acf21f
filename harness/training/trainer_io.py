"""What every trainer shares: its arguments, its batch split over processes, its checkpoints and its
atomic save. One builder of training arguments, so SFT, the IPR mixture loss, the discriminator and
the policy gradient behave the same on one CPU process and on N GPUs.
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import Any


def world_size() -> int:
    """Processes of this training job (``WORLD_SIZE``, set by ``accelerate launch``; 1 otherwise)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def training_device() -> str:
    """Where a trainer loads its model: the CPU without a GPU; this process's GPU under DDP; the CPU
    under FSDP or DeepSpeed, whose engines shard the weights and place them themselves."""
    import torch

    if not torch.cuda.is_available():
        return "cpu"
    sharded = any(os.environ.get(k, "false").lower() == "true" for k in ("ACCELERATE_USE_DEEPSPEED", "ACCELERATE_USE_FSDP"))
    return "cpu" if sharded else f"cuda:{int(os.environ.get('LOCAL_RANK', '0'))}"


def batch_split(batch_size: int, per_device: int, what: str, processes: int | None = None) -> tuple[int, int]:
    """(per-device batch, gradient accumulation steps) that keep the global batch at ``batch_size``:

        batch_size = per_device' x accumulation x processes,  per_device' <= per_device

    so a job gives the same optimizer steps on 1 process and on N. ``what`` names the recipe section
    for the error when no split exists; ``processes`` defaults to this job's."""
    n = processes or world_size()
    per = max(1, min(per_device, batch_size // n))
    accumulation = batch_size // (per * n)
    if accumulation < 1 or per * accumulation * n != batch_size:
        raise ValueError(
            f"{what}.batch_size={batch_size} cannot be split over {n} process(es) with per-device batches of at most "
            f"{per_device}: make batch_size a multiple of {n} x per_device_batch_size, or change execution.train_processes"
        )
    return per, accumulation


def with_global_batch_grouping(trainer_cls: type) -> type:
    """``trainer_cls`` whose group-by-length sampler draws megabatches of the GLOBAL batch.

    transformers sizes them by the per-process batch (``train_batch_size x accumulation``), so N
    processes would see another example order than one process; with the global batch
    (x ``world_size``) every process draws the one-process order and accelerate hands each its share
    of every optimizer step, so a step sees the same examples on 1 and on N processes."""

    class GlobalBatchGrouping(trainer_cls):
        def _get_train_sampler(self, train_dataset=None):
            from transformers.trainer_pt_utils import LengthGroupedSampler

            sampler = super()._get_train_sampler(train_dataset)
            if isinstance(sampler, LengthGroupedSampler):
                sampler.batch_size = self.args.train_batch_size * self.args.gradient_accumulation_steps * self.args.world_size
            return sampler

    GlobalBatchGrouping.__name__ = trainer_cls.__name__
    return GlobalBatchGrouping


def trainer_arguments(output_dir: str | Path, seed: int, save_steps: int, save_total_limit: int = 1,
                      gradient_checkpointing: bool = False) -> dict[str, Any]:  # fmt: skip
    """The settings every trainer of this package passes to its ``TrainingArguments`` subclass.

    bf16 only on a GPU (CPU bf16 is ~7x slower); gradient checkpointing only when asked (TRL turns it
    on by default; small models do not need it). Checkpoints every ``save_steps`` optimizer steps.
    Every optimizer step is logged (the loss curve in ``log_history.json``); :func:`quiet_log` prints
    only every tenth."""
    import torch

    cpu = not torch.cuda.is_available()
    return {
        "output_dir": str(output_dir),
        "seed": seed,
        "data_seed": seed,
        "save_strategy": "steps",
        "save_steps": save_steps,
        "save_total_limit": save_total_limit,
        "logging_steps": 1,
        "disable_tqdm": True,
        "report_to": "none",
        "use_cpu": cpu,
        "bf16": not cpu,
        "gradient_checkpointing": gradient_checkpointing,
    }


def quiet_log(trainer: Any, every: int = 10) -> Any:
    """Print the main process's log lines of every ``every``-th step (and the final summary) instead
    of every step's; all of them stay in the trainer's log history. Returns ``trainer``."""
    from transformers import PrinterCallback, TrainerCallback

    class EveryNth(TrainerCallback):
        def on_log(self, args, state, control, logs=None, **kwargs):
            if state.is_world_process_zero and logs and (state.global_step % every == 0 or "train_runtime" in logs):
                print({k: v for k, v in logs.items() if k != "total_flos"}, flush=True)

    trainer.remove_callback(PrinterCallback)
    trainer.add_callback(EveryNth())
    return trainer


def timed_checkpoints(trainer: Any, seconds: float | None) -> Any:
    """Make ``trainer`` also checkpoint whenever ``seconds`` of training passed since its last
    checkpoint (besides every ``save_steps``), so a kill loses at most about that much work; None = off.

    The main process's clock decides and every process follows (a save is a collective step under
    FSDP and DeepSpeed, so all processes must agree on it). Returns ``trainer``."""
    import time

    from transformers import TrainerCallback

    if not seconds:
        return trainer
    accelerator = trainer.accelerator

    class EverySeconds(TrainerCallback):
        def __init__(self) -> None:
            self.last = time.monotonic()

        def on_step_end(self, args, state, control, **kwargs):
            due = [time.monotonic() - self.last >= seconds]
            if accelerator.num_processes > 1:
                from accelerate.utils import broadcast_object_list

                broadcast_object_list(due, from_process=0)
            if due[0] and state.global_step < state.max_steps:  # the last step is saved as the model anyway
                control.should_save = True

        def on_save(self, args, state, control, **kwargs):
            self.last = time.monotonic()

    trainer.add_callback(EverySeconds())
    return trainer


def latest_checkpoint(folder: str | Path) -> str | None:
    """The newest complete ``checkpoint-N`` folder under ``folder`` (for resuming after a kill), if any.

    transformers writes a checkpoint's files one by one, ``trainer_state.json`` last: a folder
    without a readable one was cut by a kill, and is removed (the resumed run writes it again)."""
    ckpts = sorted((p for p in Path(folder).glob("checkpoint-*") if p.name.split("-")[-1].isdigit()),
                   key=lambda p: int(p.name.split("-")[-1]), reverse=True)  # fmt: skip
    for ckpt in ckpts:
        try:
            json.loads((ckpt / "trainer_state.json").read_text())
            return str(ckpt)
        except (OSError, ValueError):
            shutil.rmtree(ckpt, ignore_errors=True)
    return None


def save_model_atomically(trainer: Any, tokenizer: Any, out: Path, extra_files: dict[str, str] | None = None) -> Path:
    """Save the trained model and tokenizer (plus ``extra_files``: name -> text) to ``out/model``,
    via ``out/model.tmp`` and a rename, so a kill never leaves a half-written model behind. The
    trainer's log (loss per logging step) goes to ``out/log_history.json``.

    Every process of a job calls it (sharded models are gathered for the save); only the main
    process writes and renames, and the others wait for it."""
    final, tmp = out / "model", out / "model.tmp"
    main = trainer.accelerator.is_main_process
    if main:
        shutil.rmtree(tmp, ignore_errors=True)
    trainer.accelerator.wait_for_everyone()
    from harness.training.lora import is_adapted

    model = trainer.accelerator.unwrap_model(trainer.model)
    if is_adapted(model):  # LoRA: merge the adapters, so every later stage loads a plain model folder
        if main:
            model.merge_and_unload().save_pretrained(str(tmp), safe_serialization=True)
    else:
        trainer.save_model(str(tmp))
    if main:
        tokenizer.save_pretrained(str(tmp))
        for name, text in (extra_files or {}).items():
            (tmp / name).write_text(text)
        shutil.rmtree(final, ignore_errors=True)
        os.replace(tmp, final)
        (out / "log_history.json").write_text(json.dumps(trainer.state.log_history, indent=1) + "\n")
    trainer.accelerator.wait_for_everyone()
    return final
