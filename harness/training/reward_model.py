"""IPR §5.5's learned step reward model: a regressor that predicts the Monte-Carlo step reward.

A sequence-classification head with one output f(s, a) sits on the language model (started from the
SFT model, as the Monte-Carlo scorer is); the input is the chat template applied to the history s
(messages up to the last observation) plus the action a as an assistant turn, cut from the LEFT to
``max_length`` tokens, the same encoding as StepAgent's discriminator
(:func:`harness.training.discriminator.encode`). Loss and prediction:

    loss    = (1/B) * sum_b (f(s_b, a_b) - r_s(s_b, a_b))^2       (MSE against the MC label)
    r_hat   = f(s, a)                                              (used as r_s in place of rollouts)

The paper gives the head, the loss and the data size (70k WebShop actions) but no hyper-parameters;
the defaults here are choices (recipes name them).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.training.discriminator import _collate, _cut_left, _logits, encode
from harness.training.trainer_io import batch_split, latest_checkpoint, quiet_log, save_model_atomically, timed_checkpoints, trainer_arguments

META_FILE = "reward_model.json"  # beside the weights: max_length and what the output means
OUTPUT_MEANING = "regression: f(s,a) estimates the Monte-Carlo step reward r_s in [0, 1] (IPR §5.5)"


@dataclass
class RewardModelSettings:
    """Hyper-parameters of one step-reward-model fit (the paper gives none: every value is a choice)."""

    epochs: float = 3.0
    """Passes over the labelled actions (choice: as the script's SFT and DPO)."""
    batch_size: int = 16
    """Actions per optimizer step (per-device batch x gradient accumulation)."""
    per_device_batch_size: int = 8
    """Actions per forward pass."""
    learning_rate: float = 1e-5
    """AdamW learning rate (the new head and the whole language model are trained)."""
    scheduler: str = "cosine"
    warmup_ratio: float = 0.03
    weight_decay: float = 0.0
    max_length: int = 4096
    """Tokens per (history, action) text; longer ones lose their OLDEST tokens (BOS kept)."""
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: run ``epochs``); for smoke runs and tests."""
    save_steps: int = 200
    """Checkpoint every this many steps into ``output/checkpoints`` (a re-run resumes from the newest)."""


def check_examples(examples: list[dict[str, Any]]) -> None:
    """Raise ``ValueError`` naming what is wrong unless ``examples`` are {"prompt", "action", "value"} rows."""
    if not examples:
        raise ValueError("the step reward model needs labelled actions: the Monte-Carlo estimate left none to learn from")
    for i, ex in enumerate(examples):
        missing = {"prompt", "action", "value"} - set(ex)
        if missing:
            raise ValueError(f"example {i} lacks {sorted(missing)}; each needs prompt (messages), action (text), value (r_s)")


def _load_regressor(path: str, pad_token_id: int, device: str | None = None):
    """The model at ``path`` with a 1-output regression (MSE) head, new when ``path`` is a causal LM."""
    from harness.training.discriminator import load_one_output_head

    return load_one_output_head(path, pad_token_id, "regression", device)


def train_reward_model(
    model_path: str, examples: list[dict[str, Any]], output: str | Path, settings: RewardModelSettings, seed: int,
    gradient_checkpointing: bool = False, checkpoint_every_s: float | None = None,
) -> dict[str, Any]:  # fmt: skip
    """Fit the regressor on ``examples`` ({"prompt", "action", "value"}) and save it in ``output/model``.

    Loss: MSE of f(s, a) against the value (module doc). Checkpoints go to ``output/checkpoints``; a
    re-run resumes from the newest; the model is written last, atomically. Returns ``path``,
    ``train_loss``, ``train_mse`` (of the final model on its own examples), ``examples``,
    ``truncated`` and ``resumed_from``."""
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from harness.models import load_tokenizer
    from harness.training.trainer_io import training_device

    check_examples(examples)
    out = Path(output)
    ckpt_dir = out / "checkpoints"
    tokenizer = load_tokenizer(model_path)
    full = [encode(tokenizer, ex["prompt"], ex["action"]) for ex in examples]
    seqs = [_cut_left(ids, settings.max_length, tokenizer.bos_token_id) for ids in full]
    rows = [{"input_ids": s, "labels": float(ex["value"])} for s, ex in zip(seqs, examples, strict=True)]
    per_device, accumulation = batch_split(settings.batch_size, settings.per_device_batch_size, "estimate.reward_model")
    args = TrainingArguments(
        **trainer_arguments(ckpt_dir, seed, settings.save_steps, gradient_checkpointing=gradient_checkpointing),
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.scheduler,
        warmup_steps=settings.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio
        weight_decay=settings.weight_decay,
        remove_unused_columns=False,
    )
    model = _load_regressor(model_path, tokenizer.pad_token_id, training_device())
    trainer = quiet_log(Trainer(model=model, args=args, train_dataset=Dataset.from_list(rows), data_collator=_collate(tokenizer.pad_token_id)))
    timed_checkpoints(trainer, checkpoint_every_s)
    resumed_from = latest_checkpoint(ckpt_dir)
    result = trainer.train(resume_from_checkpoint=resumed_from)
    preds = _logits(trainer.model, tokenizer.pad_token_id, seqs, per_device)
    mse = sum((p - ex["value"]) ** 2 for p, ex in zip(preds, examples, strict=True)) / len(examples)
    meta = {"max_length": settings.max_length, "output": OUTPUT_MEANING}
    final = save_model_atomically(trainer, tokenizer, out, {META_FILE: json.dumps(meta, indent=2) + "\n"})
    return {"path": final, "train_loss": float(result.training_loss), "train_mse": mse, "examples": len(examples),
            "truncated": sum(len(f) > len(s) for f, s in zip(full, seqs, strict=True)), "resumed_from": resumed_from}  # fmt: skip


def predict_step_rewards(model_path: str, items: list[tuple[list[dict[str, str]], str]], batch_size: int = 8) -> list[float]:
    """r_hat(s, a) = f(s, a) for (history messages, action text) pairs: one forward pass per action,
    ``batch_size`` at a time. Deterministic (eval mode, right padding: a score does not depend on its
    batch); inputs are cut to the ``max_length`` the model was trained with."""
    from harness.models import load_tokenizer

    if not items:
        return []
    meta = json.loads((Path(model_path) / META_FILE).read_text())
    tokenizer = load_tokenizer(model_path)
    model = _load_regressor(model_path, tokenizer.pad_token_id)
    seqs = [encode(tokenizer, prompt, action, meta["max_length"]) for prompt, action in items]
    return _logits(model, tokenizer.pad_token_id, seqs, batch_size)
