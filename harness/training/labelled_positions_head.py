"""Score only the labelled positions of a sequence: TRL's fused LM head, compact on a CPU.

TRL's preference and policy-gradient trainers call ``model(..., labels=labels, fused_lm_head=True)``
and read per-token log-probabilities from the result. TRL's head projects only the labelled
positions on Triton devices, but on every other device it projects all of them, to keep tile shapes
fixed for compilers. On a CPU that wastes most of the work for agent episodes: in multi-turn
WebShop pairs about 8% of the tokens are assistant tokens (measured on the tiny preset's pairs), and
the vocabulary projection plus its log-softmax cost as much as the whole backbone of a small model.

``project_labelled_positions_only(model)`` wraps the (already TRL-patched) forward so that, on a
CPU, a ``fused_lm_head=True`` call runs the backbone, projects the hidden states of the labelled
positions only, and returns the same fields TRL's head returns (zeros elsewhere):

    log_probs_t = z_t[y_t] - logsumexp(z_t),     z_t = W h_t (+ b),  t with label y_t != -100
    entropy_t   = -sum_v p_tv log p_tv,          mean_logits_t = mean_v z_tv,   is_top1_t = argmax z_t == y_t

Same values as TRL's kernel (a test checks log-probabilities and gradients); only what is computed
differs. Temperature 1 only (the DPO trainer's; GRPO's sampling temperature is not seen here, so
it is not wrapped); models with logit scaling or soft-capping, and MoE models, keep TRL's path.
"""

from __future__ import annotations

import functools
import types
from typing import Any


def _plain_logits(model: Any) -> bool:
    config = model.config.get_text_config()
    scaled = any(getattr(config, k, None) not in (None, 1.0) for k in ("logit_scale", "output_multiplier", "lm_head_multiplier", "logits_scaling"))
    return not scaled and getattr(config, "final_logit_softcapping", None) is None


def project_labelled_positions_only(model: Any) -> None:
    """Make ``model(..., labels=..., fused_lm_head=True)`` project only labelled positions on a CPU.

    Call after the TRL trainer has added its fused head (i.e. after the trainer's ``__init__``).
    On CUDA calls fall through to TRL's Triton kernel (compact already); models with scaled logits
    are left unwrapped.
    """
    import torch
    from trl.trainer.utils import FusedCausalLMOutput

    if not _plain_logits(model):
        return
    trl_forward = model.forward

    @functools.wraps(type(model).forward)
    def forward(self: Any, *args: Any, fused_lm_head: bool = False, labels: Any = None, **kwargs: Any) -> Any:
        head = self.get_output_embeddings()
        other_path = "shift_labels" in kwargs or kwargs.get("output_router_logits")  # context parallel, MoE
        if not fused_lm_head or labels is None or other_path or head.weight.device.type != "cpu":
            return trl_forward(*args, fused_lm_head=fused_lm_head, labels=labels, **kwargs)
        kwargs.pop("num_items_in_batch", None)
        kwargs["use_cache"] = False
        hidden = self.base_model(*args, **kwargs).last_hidden_state[:, :-1]
        target = labels[:, 1:]
        mask = target != -100
        logits = head(hidden[mask]).float()
        log_norm = logits.logsumexp(-1)
        token = target[mask]
        picked = logits.gather(-1, token.unsqueeze(-1)).squeeze(-1) - log_norm
        with torch.no_grad():
            probs = (logits - log_norm.unsqueeze(-1)).exp()
            entropy = log_norm - (probs * logits).sum(-1)
            mean_logits = logits.mean(-1)
            is_top1 = logits.argmax(-1) == token

        def spread(values: Any) -> Any:
            # masked_scatter keeps an all-masked batch connected to the graph (a zero with a gradient)
            return values.new_zeros(mask.shape).masked_scatter(mask, values)

        log_probs = spread(picked)
        return FusedCausalLMOutput(
            loss=-log_probs.sum() / mask.sum().clamp(min=1),
            log_probs=log_probs,
            entropy=spread(entropy),
            mean_logits=spread(mean_logits),
            is_top1=spread(is_top1),
            label_mask=mask,
        )

    model.forward = types.MethodType(forward, model)


def labelled_positions_loss_only(model: Any) -> None:
    """Make ``model(..., labels=...)`` on a CPU compute its causal-LM loss from the labelled positions
    only (SFT: the assistant tokens), never projecting the other positions on the vocabulary:

        loss = sum_t -log softmax(W h_t)[y_{t+1}] / N,   t with label y_{t+1} != -100,

    N = ``num_items_in_batch`` when the trainer passes it (gradient accumulation), else the number of
    labelled tokens: the model's own loss (``ForCausalLMLoss``), with logits for a few percent of the
    positions instead of all (SmolLM2's 49k vocabulary makes them the biggest tensor of a step).
    The output carries the loss only. Models with scaled logits keep their own forward.
    """
    import torch
    from transformers.modeling_outputs import CausalLMOutputWithPast

    if not _plain_logits(model):
        return
    own_forward = model.forward

    @functools.wraps(type(model).forward)
    def forward(self: Any, *args: Any, labels: Any = None, num_items_in_batch: Any = None, **kwargs: Any) -> Any:
        head = self.get_output_embeddings()
        if labels is None or head.weight.device.type != "cpu" or "shift_labels" in kwargs or args:
            return own_forward(*args, labels=labels, num_items_in_batch=num_items_in_batch, **kwargs)
        kwargs["use_cache"] = False
        hidden = self.base_model(**kwargs).last_hidden_state[:, :-1]
        target = labels[:, 1:]
        mask = target != -100
        logits = head(hidden[mask]).float()
        loss = torch.nn.functional.cross_entropy(logits, target[mask], reduction="sum")
        divisor = num_items_in_batch if num_items_in_batch is not None else mask.sum()
        return CausalLMOutputWithPast(loss=loss / torch.as_tensor(divisor, device=loss.device))

    model.forward = types.MethodType(forward, model)
