"""One preference-training stage: load policy and reference, train on pair rows, save the policy."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.training.unpadded_attention import use_unpadded_attention
from harness.training.trainer_io import batch_split, latest_checkpoint, quiet_log, save_model_atomically, timed_checkpoints, training_device


def train_preference(
    policy_path: str, reference_path: str, rows: list[dict[str, Any]], output: str | Path, settings: Any, seed: int,
    gradient_checkpointing: bool = False, checkpoint_every_s: float | None = None,
) -> dict[str, Any]:
    """Train ``policy_path`` on pair ``rows`` (prompt/chosen/rejected message lists) against the frozen
    ``reference_path``; ``settings`` is a :class:`PreferenceSettings` (a recipe's ``train``). Checkpoints every ``save_steps``
    and every ``checkpoint_every_s`` seconds; resumes from the newest checkpoint."""
    from datasets import Dataset

    from harness.models import load_model, load_tokenizer
    from harness.training.preference import make_ipr_trainer_class, preference_config

    out = Path(output)
    ckpt_dir = out / "checkpoints"
    tokenizer = load_tokenizer(policy_path)
    per_device, accumulation = batch_split(settings.batch_size, settings.per_device_batch_size, "train")
    data = Dataset.from_list([{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows])
    config = preference_config(
        str(ckpt_dir),
        settings.nll,
        seed,
        settings.save_steps,
        gradient_checkpointing,
        beta=settings.beta,
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        lr_scheduler_type=settings.scheduler,
        warmup_steps=settings.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio
        max_length=settings.max_length,
        train_sampling_strategy="group_by_length",  # padding is most of a long-episode batch's cost on a CPU
    )
    model = load_model(policy_path, device=training_device())  # after the config: DeepSpeed ZeRO-3 hooks the load
    reference = load_model(reference_path, device=training_device())
    for m in (model, reference):
        use_unpadded_attention(m)
    trainer_cls = make_ipr_trainer_class()
    from harness.training.lora import peft_config

    trainer = trainer_cls(model=model, ref_model=reference, args=config, train_dataset=data, processing_class=tokenizer,
                          nll=settings.nll, nll_weight=settings.nll_weight, peft_config=peft_config(settings.lora))  # fmt: skip
    timed_checkpoints(quiet_log(trainer), checkpoint_every_s)
    if len(trainer.train_dataset) == 0:
        raise ValueError(f"every one of the {len(rows)} pairs is longer than train.max_length={settings.max_length}")
    trainer.train(resume_from_checkpoint=latest_checkpoint(ckpt_dir))
    final = save_model_atomically(trainer, tokenizer, out)
    return {"path": final, "dropped_too_long": trainer.dropped_too_long, "pairs_used": len(trainer.train_dataset)}
