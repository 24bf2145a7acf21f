"""StepAgent-Inverse's discriminator (GAIL-style inverse RL): expert vs agent actions at one state.

A sequence-classification head with one output f(s, a) sits on the language model; the input is the
chat template applied to the expert prefix s (messages up to the last user turn) plus the action a
as an assistant turn, cut from the LEFT to ``max_length`` tokens so the action and the recent
history survive. Convention (recorded by pipelines through ``REWARD_CONVENTION``):

    D(s, a) = sigmoid(f(s, a)) = P(the action is the EXPERT's | s)      (label 1 = expert, 0 = agent)
    loss    = BCE(f, y) = -[y log D + (1 - y) log(1 - D)], mean over the batch
    r(s, a) = log D(s, a) - log(1 - D(s, a)) = f(s, a)                   (the AIRL/GAIL "logit" reward)

The reward is unbounded on both sides: positive where the action looks like the expert's. METHODS'
"-log D on agent actions with D -> 1 for agent data" is the same idea under the mirrored labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.training.trainer_io import batch_split, latest_checkpoint, quiet_log, save_model_atomically, timed_checkpoints, trainer_arguments

REWARD_CONVENTION = "logit: D(s,a)=sigmoid(f)=P(expert|s,a), label 1=expert; r(s,a)=log D-log(1-D)=f(s,a)"
META_FILE = "discriminator.json"  # saved beside the weights: max_length and the convention


@dataclass
class DiscriminatorSettings:
    """Hyper-parameters of one discriminator fit (defaults: a tiny model on CPU; no paper values exist)."""

    epochs: float = 2.0
    """Passes over the expert + agent examples."""
    batch_size: int = 16
    """Examples per optimizer step (per-device batch x gradient accumulation)."""
    per_device_batch_size: int = 8
    """Examples per forward pass."""
    learning_rate: float = 1e-4
    """AdamW learning rate (the new head and the whole language model are trained)."""
    scheduler: str = "constant"
    """transformers scheduler name."""
    warmup_ratio: float = 0.0
    """Share of the steps spent warming the learning rate up."""
    weight_decay: float = 0.0
    """AdamW weight decay."""
    max_length: int = 1024
    """Tokens per (state, action) text; longer ones lose their OLDEST tokens (BOS kept)."""
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: run ``epochs``); for smoke runs and tests."""
    save_steps: int = 200
    """Checkpoint every this many steps into ``output/checkpoints`` (a re-run resumes from the newest)."""


def encode(tokenizer: Any, prompt: list[dict[str, str]], action: str, max_length: int | None = None) -> list[int]:
    """Token ids of ``prompt`` + ``action`` (as an assistant turn), keeping the LAST ``max_length`` tokens.

    A leading BOS survives the cut, because models trained with one expect it first.
    """
    messages = [*prompt, {"role": "assistant", "content": action}]
    ids = list(tokenizer.apply_chat_template(messages, tokenize=True, return_dict=True)["input_ids"])
    return ids if max_length is None else _cut_left(ids, max_length, tokenizer.bos_token_id)


def _cut_left(ids: list[int], max_length: int, bos: int | None) -> list[int]:
    if len(ids) <= max_length:
        return ids
    if bos is not None and ids[0] == bos:
        return [bos, *ids[len(ids) - max_length + 1 :]]
    return ids[len(ids) - max_length :]


def _collate(pad_id: int):
    """Right padding: positions start at 0 in every row, so a score does not depend on its batch."""

    def collate(rows: list[dict[str, Any]]) -> dict[str, Any]:
        import torch

        width = max(len(r["input_ids"]) for r in rows)
        ids = torch.full((len(rows), width), pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, : len(r["input_ids"])] = torch.tensor(r["input_ids"])
            mask[i, : len(r["input_ids"])] = 1
        batch = {"input_ids": ids, "attention_mask": mask}
        if "labels" in rows[0]:
            batch["labels"] = torch.tensor([[float(r["labels"])] for r in rows])  # (B, 1) floats for BCE
        return batch

    return collate


def _load_classifier(path: str, pad_token_id: int, device: str | None = None):
    """The model at ``path`` with a 1-output BCE head (new when ``path`` is a causal LM), float32 on CPU."""
    return load_one_output_head(path, pad_token_id, "multi_label_classification", device)  # BCEWithLogits on the logit


def load_one_output_head(path: str, pad_token_id: int, problem_type: str, device: str | None = None):
    """The model at ``path`` with a 1-output sequence head of ``problem_type`` (transformers' loss choice;
    new when ``path`` is a causal LM), float32 on CPU, bfloat16 on an accelerator."""
    import torch
    from transformers import AutoModelForSequenceClassification

    from harness.models import resolve_device, resolve_model

    device = device or resolve_device()
    return AutoModelForSequenceClassification.from_pretrained(
        resolve_model(path), num_labels=1, problem_type=problem_type, pad_token_id=pad_token_id, use_safetensors=True,
        dtype=torch.float32 if device == "cpu" else torch.bfloat16,
    ).to(device)  # fmt: skip


def _logits(model: Any, pad_id: int, sequences: list[list[int]], batch_size: int) -> list[float]:
    import torch

    model.eval()
    out: list[float] = []
    collate = _collate(pad_id)
    with torch.no_grad():
        for start in range(0, len(sequences), batch_size):
            batch = collate([{"input_ids": s} for s in sequences[start : start + batch_size]])
            batch = {k: v.to(model.device) for k, v in batch.items()}
            out.extend(model(**batch).logits[:, 0].float().tolist())
    return out


def check_examples(examples: list[dict[str, Any]]) -> None:
    """Raise ``ValueError`` naming what is wrong unless ``examples`` are labelled rows of both classes."""
    if not examples:
        raise ValueError("the discriminator needs examples: pass expert (label 1) and agent (label 0) actions")
    for i, ex in enumerate(examples):
        missing = {"prompt", "action", "label"} - set(ex)
        if missing:
            raise ValueError(f"example {i} lacks {sorted(missing)}; each needs prompt (messages), action (text), label")
        if ex["label"] not in (0, 1):
            raise ValueError(f"example {i} has label {ex['label']!r}; use 1 for expert and 0 for agent actions")
    labels = {ex["label"] for ex in examples}
    if len(labels) < 2:
        only = "expert (1)" if labels == {1} else "agent (0)"
        raise ValueError(
            f"all {len(examples)} examples are {only}: a discriminator needs both classes; "
            "add the agent's sampled actions as label 0 and the expert's as label 1"
        )


def train_discriminator(
    model_path: str, examples: list[dict[str, Any]], output: str | Path, settings: DiscriminatorSettings, seed: int,
    gradient_checkpointing: bool = False,
    checkpoint_every_s: float | None = None,
) -> dict[str, Any]:
    """Fit D on ``examples`` ({"prompt", "action", "label"}) and save it in ``output/model``.

    Loss: mean binary cross-entropy on the logit f(s, a), label 1 = expert (see module doc). The head
    is added to the causal LM at ``model_path`` (or kept, when it already is a discriminator).
    Checkpoints go to ``output/checkpoints``; a re-run resumes from the newest; the model is written
    last, atomically. Returns ``path``, ``train_loss``, ``train_accuracy`` (share of examples with
    sign(f) matching the label after training), ``examples``, ``truncated`` and ``resumed_from``.
    """
    from datasets import Dataset
    from transformers import Trainer, TrainingArguments

    from harness.models import load_tokenizer

    check_examples(examples)
    out = Path(output)
    ckpt_dir = out / "checkpoints"
    from harness.training.trainer_io import training_device

    tokenizer = load_tokenizer(model_path)
    full = [encode(tokenizer, ex["prompt"], ex["action"]) for ex in examples]
    seqs = [_cut_left(ids, settings.max_length, tokenizer.bos_token_id) for ids in full]
    rows = [{"input_ids": s, "labels": int(ex["label"])} for s, ex in zip(seqs, examples)]
    per_device, accumulation = batch_split(settings.batch_size, settings.per_device_batch_size, "discriminator")
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
    model = _load_classifier(model_path, tokenizer.pad_token_id, training_device())
    collate = _collate(tokenizer.pad_token_id)
    trainer = quiet_log(Trainer(model=model, args=args, train_dataset=Dataset.from_list(rows), data_collator=collate))
    timed_checkpoints(trainer, checkpoint_every_s)
    resumed_from = latest_checkpoint(ckpt_dir)
    result = trainer.train(resume_from_checkpoint=resumed_from)
    logits = _logits(trainer.model, tokenizer.pad_token_id, seqs, per_device)
    correct = sum((f > 0) == (ex["label"] == 1) for f, ex in zip(logits, examples))
    meta = {"max_length": settings.max_length, "reward_convention": REWARD_CONVENTION}
    final = save_model_atomically(trainer, tokenizer, out, {META_FILE: json.dumps(meta, indent=2) + "\n"})
    return {
        "path": final,
        "train_loss": float(result.training_loss),
        "train_accuracy": correct / len(examples),
        "examples": len(examples),
        "truncated": sum(len(f) > len(s) for f, s in zip(full, seqs)),
        "resumed_from": resumed_from,
    }


def discriminator_rewards(
    model_path: str, items: list[tuple[list[dict[str, str]], str]], batch_size: int = 8, max_length: int | None = None
) -> list[float]:
    """Per-step rewards r(s, a) = log D - log(1 - D) = f(s, a) for (state messages, action text) pairs.

    Deterministic: eval mode, no sampling, right padding (a score does not depend on its batch).
    ``max_length`` defaults to the one the discriminator was trained with (``discriminator.json``).
    """
    from harness.models import load_tokenizer

    if not items:
        return []
    meta_path = Path(model_path) / META_FILE
    if max_length is None:
        max_length = json.loads(meta_path.read_text())["max_length"] if meta_path.exists() else 1024
    tokenizer = load_tokenizer(model_path)
    model = _load_classifier(model_path, tokenizer.pad_token_id)
    seqs = [encode(tokenizer, prompt, action, max_length) for prompt, action in items]
    return _logits(model, tokenizer.pad_token_id, seqs, batch_size)
