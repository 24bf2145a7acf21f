"""StepAgent-Inverse's policy update: KL-regularised policy gradient on single-step episodes (TRL GRPO).

Each state s is an expert prefix (chat messages ending with a user turn); the policy samples G
replies y_1..y_G at ``temperature``; ``reward_fn`` scores them (the pipeline passes a closure over
``discriminator_rewards``); the episode ends after the one step. TRL's GRPOTrainer computes, per
optimizer step over the sampled replies (``loss_type="dapo"``, the default, normalises by the
number of reply tokens T in the batch):

    A_i  = (r_i - mean_j r_j) / (std_j r_j + 1e-4)           over the G replies of the same state
           (``scale_rewards="none"`` drops the division)
    L    = 1/T sum_i sum_t [ -A_i rho_it + beta KL_it ]  -  lambda mean_it H(pi_theta(. | s_i, y_i,<t))
    KL_it = exp(q_it - p_it) - (q_it - p_it) - 1,  p = log pi_theta(y_it | ...), q = log pi_ref(y_it | ...)

rho_it = pi_theta / pi_theta_old is 1 in value (one update per sample), so the gradient of the
first term is -A_i grad log pi_theta(y_it): REINFORCE with the group mean as baseline. KL_it is the
k3 estimator of KL(pi_theta || pi_ref), and H is the exact entropy of the next-token distribution
(TRL's ``entropy_coef``); both p, q and H use the sampling temperature. The reference is the model
at ``reference_path``, frozen.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.training.trainer_io import (
    latest_checkpoint,
    save_model_atomically,
    timed_checkpoints,
    trainer_arguments,
    training_device,
    world_size,
)

RewardFn = Callable[[list[list[dict[str, str]]], list[str]], list[float]]


@dataclass
class PolicyGradientSettings:
    """Hyper-parameters of one policy update (StepAgent publishes none: every value is a choice)."""

    learning_rate: float = 1e-6
    """AdamW learning rate."""
    epochs: float = 1.0
    """Passes over the states."""
    batch_size: int = 8
    """States per optimizer step (each with ``num_generations`` replies); an epoch's leftover states that
    do not fill a last batch wait for the next epoch (TRL's sampler reshuffles every epoch)."""
    per_device_batch_size: int = 16
    """Replies per forward pass (rounded to whole groups of ``num_generations``)."""
    num_generations: int = 4
    """Replies sampled per state (G); the group's mean reward is the baseline."""
    kl_beta: float = 0.05
    """beta: weight of the KL penalty to the frozen reference."""
    entropy_coef: float = 0.01
    """lambda: weight of the entropy bonus (mean per-token entropy of the policy)."""
    temperature: float = 1.0
    """Sampling temperature of the replies (also applied to the scored log-probabilities)."""
    max_new_tokens: int = 256
    """Longest reply; longer ones are cut."""
    max_prompt_length: int = 2048
    """States with more prompt tokens are dropped (and counted), not cut."""
    loss_type: str = "dapo"
    """TRL GRPO loss aggregation: dapo (token mean over the batch), grpo, dr_grpo, bnpo."""
    scale_rewards: str = "group"
    """Advantage scaling: group (divide by the group's std), batch, or none (Dr. GRPO)."""
    scheduler: str = "constant"
    """transformers scheduler name."""
    max_steps: int = -1
    """Stop after this many optimizer steps (-1: run ``epochs``); for smoke runs and tests."""
    save_steps: int = 50
    """Checkpoint every this many steps into ``output/checkpoints`` (a re-run resumes from the newest)."""


def _group_sizes(settings: PolicyGradientSettings, n_states: int) -> tuple[int, int]:
    """(replies per forward pass and process, accumulation steps): whole groups per pass, one optimizer
    step per batch of states, the batch split evenly over the job's processes."""
    n = world_size()
    states_per_step = max(1, min(settings.batch_size, n_states))
    if states_per_step % n:
        raise ValueError(f"policy_gradient.batch_size: {states_per_step} states per step cannot be split over {n} "
                         "processes; make it a multiple of execution.train_processes")  # fmt: skip
    per_process = states_per_step // n
    per_pass = math.gcd(per_process, max(1, settings.per_device_batch_size // settings.num_generations))
    return per_pass * settings.num_generations, per_process // per_pass


def train_policy_gradient(
    policy_path: str,
    reference_path: str,
    prompts: list[list[dict[str, str]]],
    reward_fn: RewardFn,
    output: str | Path,
    settings: PolicyGradientSettings,
    seed: int,
    gradient_checkpointing: bool = False,
    checkpoint_every_s: float | None = None,
) -> dict[str, Any]:
    """Update ``policy_path`` on the states ``prompts`` with rewards ``reward_fn(states, replies)``.

    Loss: the module docstring's KL-regularised, entropy-regularised group-baseline policy gradient,
    with the frozen reference at ``reference_path``. Checkpoints go to ``output/checkpoints``; a
    re-run resumes from the newest; the policy is written last, atomically, to ``output/model``.
    Returns ``path``, ``reward_first`` / ``reward_last`` (mean reward of the first / last logged
    step's samples: before and after most of the training), ``reward_history`` (one mean per step),
    ``kl_first`` / ``kl_last`` (None when beta = 0), ``entropy_last``, ``states``, ``dropped_too_long``
    and ``resumed_from``.
    """
    from datasets import Dataset
    from trl import GRPOConfig, GRPOTrainer

    from harness.models import load_model, load_tokenizer, resolve_model

    if not prompts:
        raise ValueError(
            "policy-gradient training needs states: pass expert prefixes (messages ending with a user turn)"
        )
    if settings.num_generations < 2:
        raise ValueError(
            f"num_generations={settings.num_generations}: the group baseline needs at least 2 replies per state"
        )
    for i, p in enumerate(prompts):
        if not p or p[-1].get("role") != "user":
            raise ValueError(f"state {i} does not end with a user turn; a state is the history up to the observation")
    tokenizer = load_tokenizer(policy_path)

    def prompt_tokens(p: list[dict[str, str]]) -> int:
        enc = tokenizer.apply_chat_template(p, add_generation_prompt=True, tokenize=True, return_dict=True)
        return len(enc["input_ids"])

    kept = [p for p in prompts if prompt_tokens(p) <= settings.max_prompt_length]
    if not kept:
        raise ValueError(
            f"all {len(prompts)} states exceed max_prompt_length={settings.max_prompt_length} tokens; raise it"
        )
    out = Path(output)
    ckpt_dir = out / "checkpoints"
    per_pass, accumulation = _group_sizes(settings, len(kept))
    config = GRPOConfig(
        **trainer_arguments(ckpt_dir, seed, settings.save_steps, gradient_checkpointing=gradient_checkpointing),
        learning_rate=settings.learning_rate,
        num_train_epochs=settings.epochs,
        max_steps=settings.max_steps,
        per_device_train_batch_size=per_pass,
        gradient_accumulation_steps=accumulation,
        num_generations=settings.num_generations,
        max_completion_length=settings.max_new_tokens,
        temperature=settings.temperature,
        beta=settings.kl_beta,
        entropy_coef=settings.entropy_coef,
        loss_type=settings.loss_type,
        scale_rewards=settings.scale_rewards,
        lr_scheduler_type=settings.scheduler,
        disable_dropout=True,
    )

    def step_reward(prompts: list[list[dict]], completions: list[list[dict]], **_: Any) -> list[float]:
        return [float(r) for r in reward_fn(prompts, [c[-1]["content"] for c in completions])]

    model = load_model(policy_path, device=training_device())
    # TRL builds the reference from the policy's config name; pointing it at reference_path makes the
    # frozen reference exactly that model (the policy's own name is restored right after).
    own_name = model.config._name_or_path
    model.config._name_or_path = resolve_model(reference_path)
    try:
        data = Dataset.from_list([{"prompt": p} for p in kept])
        trainer = GRPOTrainer(
            model=model, reward_funcs=step_reward, args=config, train_dataset=data, processing_class=tokenizer
        )
    finally:
        model.config._name_or_path = own_name
    ref_name = getattr(getattr(trainer.ref_model, "config", None), "_name_or_path", None)
    if settings.kl_beta and ref_name != resolve_model(reference_path):
        raise RuntimeError(f"TRL loaded the reference from {ref_name!r}, not {reference_path!r}; use trl 1.16")
    timed_checkpoints(trainer, checkpoint_every_s)
    resumed_from = latest_checkpoint(ckpt_dir)
    trainer.train(resume_from_checkpoint=resumed_from)
    final = save_model_atomically(trainer, tokenizer, out)
    logs = [e for e in trainer.state.log_history if "reward" in e]
    return {
        "path": final,
        "reward_first": logs[0]["reward"] if logs else None,
        "reward_last": logs[-1]["reward"] if logs else None,
        "reward_history": [e["reward"] for e in logs],
        "kl_first": logs[0].get("kl") if logs else None,
        "kl_last": logs[-1].get("kl") if logs else None,
        "entropy_last": logs[-1].get("entropy") if logs else None,
        "states": len(kept),
        "dropped_too_long": len(prompts) - len(kept),
        "resumed_from": resumed_from,
    }
