"""LoRA (peft) for the SFT and preference updates: fewer trainable parameters, for fewer GPUs.

With ``r > 0`` a trainer wraps its model in low-rank adapters (Hu et al. 2021): each targeted weight
W becomes W + (alpha / r) * B A with A (r x d_in), B (d_out x r) trained and W frozen. The saved
model has the adapters merged back into W, so every later stage (vLLM, the next iteration, the
reference) loads a plain model folder. ``r: 0`` (the default, and the paper's) is full fine-tuning.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any


@dataclass
class LoRASettings:
    r: int = 0
    """Adapter rank; 0 = no LoRA (full fine-tuning, as the IPR paper)."""
    alpha: int = 16
    """Scale alpha: the update is (alpha / r) * B A."""
    dropout: float = 0.05
    """Dropout on the adapter's input."""
    target_modules: str = "all-linear"
    """peft's target: ``all-linear`` (every linear layer but the output head) or a comma-separated list."""


def as_lora(value: Any) -> LoRASettings:
    """``value`` as :class:`LoRASettings` (a job file holds it as a mapping)."""
    return value if isinstance(value, LoRASettings) else LoRASettings(**(value or {}))


def peft_config(settings: LoRASettings) -> Any:
    """The peft ``LoraConfig`` for ``settings``, or None when LoRA is off."""
    if settings.r <= 0:
        return None
    from peft import LoraConfig

    targets = settings.target_modules if settings.target_modules == "all-linear" else [t.strip() for t in settings.target_modules.split(",")]
    return LoraConfig(r=settings.r, lora_alpha=settings.alpha, lora_dropout=settings.dropout, target_modules=targets,
                      task_type="CAUSAL_LM")  # fmt: skip


def is_adapted(model: Any) -> bool:
    """Whether ``model`` carries peft adapters."""
    return hasattr(model, "merge_and_unload") and hasattr(model, "peft_config")
