"""Supervised fine-tuning on expert conversations with TRL's SFTTrainer (IPR §3.1, stage 0).

Loss: negative log-likelihood of the assistant turns only (observation/user turns masked): TRL's
``assistant_only_loss`` when the chat template marks assistant tokens with ``{% generation %}``;
otherwise the rows are tokenized here with masks derived from the template
(:func:`harness.data.trl_format.assistant_only_tokens`) and TRL trains on those.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from harness.training.lora import LoRASettings, as_lora


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
    lora: LoRASettings = field(default_factory=LoRASettings)
    """LoRA adapters instead of full fine-tuning (``r: 0`` = off, the paper's choice)."""

    def __post_init__(self) -> None:
        self.lora = as_lora(self.lora)


def make_sft_trainer_class():
    """TRL's SFTTrainer, with the plain cross-entropy loss on a CPU.

    Same loss (the mean NLL of the labelled assistant tokens), another kernel: TRL computes it with a
    tiled "fused LM head" that saves GPU memory but is ~3x slower per step on a CPU for small models
    (benchmarked on the tiny preset), so without a GPU the model's own loss is used, computed from
    the labelled positions only (``labelled_positions_loss_only``: no vocabulary projection of the
    observation tokens). The entropy and token-accuracy metrics of TRL's path are not logged then.
    """
    import torch
    from transformers import Trainer
    from trl import SFTTrainer

    class CPUFriendlySFTTrainer(SFTTrainer):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            if not torch.cuda.is_available():
                from harness.training.labelled_positions_head import labelled_positions_loss_only

                inner = self.model.get_base_model() if hasattr(self.model, "get_base_model") else self.model
                labelled_positions_loss_only(inner)

        def compute_loss(self, model, inputs, return_outputs=False, num_items_in_batch=None):
            if torch.cuda.is_available():
                return super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
            inputs["use_cache"] = False
            return Trainer.compute_loss(self, model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)

    from harness.training.trainer_io import with_global_batch_grouping

    return with_global_batch_grouping(CPUFriendlySFTTrainer)


def train_sft(model_path: str, conversations: list[list[dict[str, str]]], output: str | Path, settings: SFTSettings,
              gradient_checkpointing: bool = False, checkpoint_every_s: float | None = None,
              icl_turns: list[tuple[int, int] | None] | None = None) -> Path:  # fmt: skip
    """Fine-tune ``model_path`` on ``conversations`` and save the result (safetensors) in ``output/model``.

    ``icl_turns[i]``: the ``[start, stop)`` message indices of conversation i's in-context example
    turns (a recipe's ``prompt.icl``), which are context, not trained on (see
    :func:`~harness.data.trl_format.assistant_only_tokens`).

    Checkpoints go to ``output/checkpoints`` every ``save_steps`` (and every ``checkpoint_every_s``
    seconds of training) and a re-run resumes from the
    newest one; the finished model is written last, atomically.
    """
    from datasets import Dataset
    from trl import SFTConfig

    from harness.data.trl_format import assistant_only_tokens, has_generation_markers
    from harness.models import load_model, load_tokenizer
    from harness.training.unpadded_attention import use_unpadded_attention
    from harness.training.trainer_io import (
        batch_split,
        latest_checkpoint,
        quiet_log,
        save_model_atomically,
        timed_checkpoints,
        trainer_arguments,
        training_device,
    )

    if not conversations:
        raise ValueError("SFT needs at least one expert conversation")
    out = Path(output)
    ckpt_dir = out / "checkpoints"
    tokenizer = load_tokenizer(model_path)
    turns = icl_turns or [None] * len(conversations)
    # TRL's assistant_only_loss marks every assistant turn, the in-context examples' too: rows that
    # carry examples are tokenized here, with those turns unmarked
    marked = has_generation_markers(tokenizer) and not any(turns)
    per_device, accumulation = batch_split(settings.batch_size, settings.per_device_batch_size, "sft")
    config = SFTConfig(
        **trainer_arguments(ckpt_dir, settings.seed, settings.save_steps, 2, gradient_checkpointing=gradient_checkpointing),
        num_train_epochs=settings.epochs,
        per_device_train_batch_size=per_device,
        gradient_accumulation_steps=accumulation,
        learning_rate=settings.learning_rate,
        lr_scheduler_type=settings.scheduler,
        warmup_steps=settings.warmup_ratio,  # transformers 5: a float in [0, 1) is a ratio
        weight_decay=settings.weight_decay,
        max_length=settings.max_length,
        assistant_only_loss=marked,
        # batches of similar length: padding is most of the cost of long multi-turn episodes on a CPU
        train_sampling_strategy="group_by_length",
    )
    model = load_model(model_path, device=training_device())  # after the config: DeepSpeed ZeRO-3 hooks the load
    use_unpadded_attention(model)
    rows = [{"messages": c} if marked else assistant_only_tokens(c, tokenizer, t) for c, t in zip(conversations, turns, strict=True)]
    dataset = Dataset.from_list(rows)
    from harness.training.lora import peft_config

    trainer = make_sft_trainer_class()(model=model, args=config, train_dataset=dataset, processing_class=tokenizer,
                                       peft_config=peft_config(settings.lora))  # fmt: skip
    timed_checkpoints(quiet_log(trainer), checkpoint_every_s)
    trainer.train(resume_from_checkpoint=latest_checkpoint(ckpt_dir))
    return save_model_atomically(trainer, tokenizer, out)
