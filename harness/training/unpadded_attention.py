"""Attention without padding for training on a CPU: each sequence of a right-padded batch attends on
its own tokens only, with SDPA's causal kernel, and no [batch, 1, length, length] mask is built.

With padding in a batch, transformers' ``sdpa`` builds a 4-D float mask per forward and SDPA runs
its masked kernel: on the tiny preset's preference batches (16 sequences of ~1.6k tokens) building
and applying those masks took half of the step's time and most of its peak memory (profiled in
benchmarks/results/reproduce_ipr-webshop_tiny.json's notes). A causal model with right padding
needs no mask at all: position t of sequence b only sees positions <= t < n_b, so

    out_b[:n_b] = SDPA(q_b[:n_b], k_b[:n_b], v_b[:n_b], is_causal=True),   out_b[n_b:] = 0

is the masked result on every real token (padded positions feed no loss). Only training forwards
take this path (full-length queries, right padding, no cache); anything else (left padding,
generation with a cache) gets a mask built here and SDPA's masked kernel, as ``sdpa`` would.
"""

from __future__ import annotations

from typing import Any

NAME = "harness_unpadded_sdpa"


def _register() -> None:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface, flash_attention_mask

    if NAME not in AttentionInterface._global_mapping:
        AttentionInterface.register(NAME, unpadded_sdpa_forward)
        # the 2-D padding mask (or None when there is no padding), as flash attention receives it
        AttentionMaskInterface.register(NAME, flash_attention_mask)


def unpadded_sdpa_forward(module: Any, query: Any, key: Any, value: Any, attention_mask: Any, dropout: float = 0.0,
                          scaling: float | None = None, is_causal: bool | None = None, **kwargs: Any) -> tuple[Any, None]:  # fmt: skip
    """An ``AttentionInterface`` function: ``query``/``key``/``value`` are [batch, heads, length, dim],
    ``attention_mask`` the 2-D padding mask (True = token) or None; returns [batch, length, heads, dim]."""
    import torch
    from transformers.integrations.sdpa_attention import sdpa_attention_forward

    def sdpa(q: Any, k: Any, v: Any, mask: Any) -> Any:
        return sdpa_attention_forward(module, q, k, v, mask, dropout=dropout, scaling=scaling, is_causal=is_causal, **kwargs)[0]

    if attention_mask is None:
        return sdpa(query, key, value, None), None
    mask = attention_mask.bool()
    lengths = mask.sum(-1)
    q_len, kv_len = query.shape[2], key.shape[2]
    right_padded = bool((mask == (torch.arange(kv_len, device=mask.device) < lengths[:, None])).all())
    if q_len == kv_len and right_padded:
        out = query.new_zeros(query.shape[0], q_len, query.shape[1], query.shape[3])
        for b, n in enumerate(lengths.tolist()):
            if n:
                out[b, :n] = sdpa(query[b : b + 1, :, :n], key[b : b + 1, :, :n], value[b : b + 1, :, :n], None)[0]
        return out, None
    # left padding or a cache: the causal + padding mask, aligned on the last query (as transformers does)
    offset = kv_len - q_len
    causal = torch.arange(kv_len, device=mask.device)[None, :] <= (torch.arange(q_len, device=mask.device)[:, None] + offset)
    full = causal[None, None] & mask[:, None, None, :]
    return sdpa(query, key, value, full), None


def use_unpadded_attention(model: Any) -> bool:
    """Switch ``model`` (a transformers causal LM) to :data:`NAME` when it runs on a CPU with SDPA
    attention; returns whether it did. GPUs keep their own kernels (flash attention unpads already)."""
    config = getattr(model, "config", None)
    if config is None or getattr(config, "_attn_implementation", None) != "sdpa":
        return False
    if next(model.parameters()).device.type != "cpu":
        return False
    _register()
    model.set_attn_implementation(NAME)  # not saved: config.json keeps no attention implementation
    return True

