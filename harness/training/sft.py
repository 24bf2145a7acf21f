"""Supervised fine-tuning on expert conversations with TRL's SFTTrainer (IPR §3.1, stage 0).

Loss: negative log-likelihood of the assistant turns only (observation/user turns masked), i.e.
TRL's ``assistant_only_loss`` with a chat template that marks assistant tokens.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass
class SFTSettings:
    """Hyper-parameters of the SFT stage (defaults: IPR's script, scaled by the recipe's preset)."""

    epochs: float = 3.0
    batch_size: int = 48
    per_device_batch_size: int = 4
    learning_rate: float = 2e-5
    scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_length: int = 4096
    seed: int = 42  # in a recipe, the top-level `seed` is used instead (one seed per run)
    save_steps: int = 200


def latest_checkpoint(folder: str | Path) -> str | None:
    """The newest ``checkpoint-N`` folder under ``folder`` (for resuming after a kill), if any."""
    ckpts = sorted(Path(folder).glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[-1]) if p.name.split("-")[-1].isdigit() else -1)
    return str(ckpts[-1]) if ckpts else None


def save_model_atomically(trainer: Any, tokenizer: Any, out: Path, extra_files: dict[str, str] | None = None) -> Path:
    """Save the trained model and tokenizer (plus ``extra_files``: name -> text) to ``out/model``,
    via ``out/model.tmp`` and a rename, so a kill never leaves a half-written model behind."""
    import os
    import shutil

    final, tmp = out / "model", out / "model.tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    trainer.save_model(str(tmp))
    tokenizer.save_pretrained(str(tmp))
    for name, text in (extra_files or {}).items():
        (tmp / name).write_text(text)
    shutil.rmtree(final, ignore_errors=True)
    os.replace(tmp, final)
    return final


def cpu_safe_kwargs() -> dict[str, Any]:
    """Trainer settings that are right on this machine: bf16 only on a GPU (CPU bf16 is ~7x slower)."""
    import torch

    cpu = not torch.cuda.is_available()
    return {"use_cpu": cpu, "bf16": not cpu, "gradient_checkpointing": False, "report_to": "none"}


def make_sft_trainer_class():
    """TRL's SFTTrainer, with the plain cross-entropy loss on a CPU.

    Same loss (the mean NLL of the labelled assistant tokens), another kernel: TRL computes it with a
    tiled "fused LM head" that saves GPU memory but is ~3x slower per step on a CPU for small models
    (benchmarked on the tiny preset), so without a GPU the model's own loss is used. The entropy and
    token-accuracy metrics of TRL's path are not logged then.
    """
    import torch
    from transformers import Trainer
    from trl import SFTTrainer

    class CPUFriendlySFTTrainer(SFTTrainer):
        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if torch.cuda.is_available():
                return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
            inputs["use_cache"] = False
            return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    return CPUFriendlySFTTrainer


def train_sft(model_path: str, conversations: list[list[dict[str, str]]], output: str | Path, settings: SFTSettings) -> Path:
    """Fine-tune ``model_path`` on ``conversations`` and save the result (safetensors) in ``output/model``.

    Checkpoints go to ``output/checkpoints`` every ``save_steps`` and a re-run resumes from the
    newest one; the finished model is written last, atomically.
    """
    from datasets import Dataset
    from trl import SFTConfig

    from harness.models import load_model, load_tokenizer

    if not conversations:
        raise ValueError("SFT needs at least one expert conversation")
    out = Path(output)
    ckpt_dir = out / "checkpoints"
    tokenizer = load_tokenizer(model_path)
    model = load_model(model_path)
    accumulation = max(1, settings.batch_size // settings.per_device_batch_size)
    config = SFTConfig(
        output_dir=str(ckpt_dir),
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=settings.per_device_batch_size,
        gradient_accumulation_steps=accumulation,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.scheduler,
        warmup_steps=settings.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio
        weight_decay=settings.weight_decay,
        max_length=settings.max_length,
        assistant_only_loss=True,
        seed=settings.seed,
        data_seed=settings.seed,
        save_strategy="steps",
        save_steps=settings.save_steps,
        save_total_limit=2,
        logging_steps=10,
        disable_tqdm=True,
        # batches of similar length: padding is most of the cost of long multi-turn episodes on a CPU
        train_sampling_strategy="group_by_length",
        **cpu_safe_kwargs(),
    )
    dataset = Dataset.from_list([{"messages": c} for c in conversations])
    trainer = make_sft_trainer_class()(model=model, args=config, train_dataset=dataset, processing_class=tokenizer)
    trainer.train(resume_from_checkpoint=latest_checkpoint(ckpt_dir))
    return save_model_atomically(trainer, tokenizer, out)
