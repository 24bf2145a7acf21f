"""A KV cache for batched ``generate`` on CPU: preallocated buffers and prefill in row chunks.

Two costs dominate transformers' batched generation on CPU, and both grow with the batch:

- ``DynamicCache`` appends each new token with ``torch.cat``, copying the whole cache every step;
  ``StaticCache`` avoids the copy but attends over its full preallocated length from the first
  step. :class:`GrowingLayer` writes into a buffer sized for prompt + reply and attends over the
  filled part only.
- A prefill of 64 long prompts in one forward pass runs out of CPU cache and is about twice as
  slow per token as passes of a few thousand tokens. :func:`prefill_in_chunks` fills the cache
  with such passes (rows of similar length together), then ``generate`` continues from it.

Numerics are those of the plain path (the greedy equality tests against vLLM hold either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass
class Past:
    """Keys and values already computed for the first ``length`` tokens of one row, per layer."""

    length: int
    layers: list[tuple[Any, Any]]
    """One (keys, values) pair per layer, each [heads, length, head_dim]."""


def _layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A cache layer over a preallocated [batch, heads, capacity, dim] buffer, zero-filled."""

        def __init__(self, capacity: int):
            super().__init__()
            self.capacity = capacity
            self.length = 0

        def allocate(
            self, batch: int, heads: int, k_dim: int, v_dim: int, dtype: Any, device: Any, zero: bool = True
        ) -> None:
            import torch

            # Padded positions are masked, but 0 * NaN garbage would still be NaN: callers that do not
            # zero the buffers must zero every padding column themselves.
            make = torch.zeros if zero else torch.empty
            self.attach(
                make((batch, heads, self.capacity, k_dim), dtype=dtype, device=device),
                make((batch, heads, self.capacity, v_dim), dtype=dtype, device=device),
                0,
            )

        def attach(self, kbuf: Any, vbuf: Any, length: int) -> None:
            """Use existing buffers (e.g. a view of some rows of a bigger cache) holding ``length`` tokens."""
            self.kbuf, self.vbuf, self.capacity, self.length = kbuf, vbuf, kbuf.shape[2], length
            self.dtype, self.device = kbuf.dtype, kbuf.device
            self.keys, self.values = kbuf[:, :, :length], vbuf[:, :, :length]
            self.is_initialized = True

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            b, h, _, k_dim = key_states.shape
            self.allocate(b, h, k_dim, value_states.shape[-1], key_states.dtype, key_states.device)

        def update(self, key_states: Any, value_states: Any, *args: Any, **kwargs: Any) -> tuple[Any, Any]:
            if not self.is_initialized:
                self.lazy_initialization(key_states, value_states)
            n = key_states.shape[-2]
            if self.length + n > self.capacity:
                raise RuntimeError(f"KV buffer of {self.capacity} tokens is full; this is a bug in the caller's sizing")
            self.kbuf[:, :, self.length : self.length + n] = key_states
            self.vbuf[:, :, self.length : self.length + n] = value_states
            self.length += n
            self.keys, self.values = self.kbuf[:, :, : self.length], self.vbuf[:, :, : self.length]
            return self.keys, self.values

        def get_seq_length(self) -> int:
            return self.length

    return GrowingLayer


def growing_cache(model: Any, capacity: int) -> Any | None:
    """A ``DynamicCache`` whose layers are :class:`GrowingLayer` buffers of ``capacity`` tokens.

    ``None`` when the model's cache is not made of plain full-attention layers (sliding windows,
    linear attention, ...): the caller then lets ``generate`` build its own.
    """
    from transformers import DynamicCache
    from transformers.cache_utils import DynamicLayer

    cache = DynamicCache(config=model.config)
    if not cache.layers or any(type(layer) is not DynamicLayer for layer in cache.layers):
        return None
    layer = _layer_class()
    cache.layers = [layer(capacity) for _ in cache.layers]
    return cache


def position_ids(attention_mask: Any) -> Any:
    """Positions that skip left padding, as ``generate`` computes them (pads get position 1)."""
    pos = attention_mask.long().cumsum(-1) - 1
    return pos.masked_fill(attention_mask == 0, 1)


def prefill_in_chunks(
    model: Any,
    cache: Any,
    input_ids: Any,
    attention_mask: Any,
    max_tokens: int | None,
    pasts: Sequence[Past | None] | None = None,
) -> None:
    """Fill ``cache`` with every row's prompt except its last token; ``generate`` then continues.

    Rows are left-padded and sorted longest first. ``pasts[i]`` holds the keys and values already
    known for the first tokens of row i (from its previous step, see ``hf_prefix``): they are
    copied, and only the columns after them are computed. The computation runs a few rows per
    forward pass, each pass within ``max_tokens`` new tokens (``None``: all rows at once), and
    skips the columns that are padding for all its rows.
    """
    import torch

    batch, width = input_ids.shape
    lengths = [int(n) for n in attention_mask.sum(-1).tolist()]
    pasts = list(pasts) if pasts is not None else [None] * batch
    reused = [0 if p is None else p.length for p in pasts]
    first = width - max(n - r for n, r in zip(lengths, reused, strict=True))  # first column to compute
    heads, k_dim, v_dim = kv_shape(model)
    for big in cache.layers:
        big.allocate(batch, heads, k_dim, v_dim, model.dtype, input_ids.device, zero=False)
        for i, n in enumerate(lengths):  # only padding is ever read before it is written
            big.kbuf[i, :, : width - n].zero_()
            big.vbuf[i, :, : width - n].zero_()
    for i, past in enumerate(pasts):
        keep = lengths[i] - (width - first)  # this row's known tokens left of ``first``
        if past is None or keep <= 0:
            continue
        for big, (k, v) in zip(cache.layers, past.layers, strict=True):
            big.kbuf[i, :, width - lengths[i] : first] = k[:, :keep]
            big.vbuf[i, :, width - lengths[i] : first] = v[:, :keep]
    start = 0
    while start < batch:
        begin = width - lengths[start]  # columns before are padding for this row and the shorter ones after
        compute_from = max(first, begin)
        new = width - 1 - compute_from
        end = batch if max_tokens is None else min(batch, start + max(1, max_tokens // max(new, 1)))
        if new > 0:
            # The pass writes straight into these rows of the big cache, attending over [begin, ...).
            chunk = growing_cache(model, 0)
            assert chunk is not None  # the caller checked that this model has plain layers
            for big, small in zip(cache.layers, chunk.layers, strict=True):
                small.attach(
                    big.kbuf[start:end, :, begin : width - 1],
                    big.vbuf[start:end, :, begin : width - 1],
                    compute_from - begin,
                )
            mask = attention_mask[start:end, begin : width - 1]
            with torch.inference_mode():
                model(
                    input_ids=input_ids[start:end, compute_from : width - 1],
                    attention_mask=mask,
                    position_ids=position_ids(mask)[:, compute_from - begin :],
                    past_key_values=chunk,
                    use_cache=True,
                    logits_to_keep=1,
                )
        start = end
    for big in cache.layers:
        big.attach(big.kbuf, big.vbuf, width - 1)


def kv_shape(model: Any) -> tuple[int, int, int]:
    """(key/value heads, key dim, value dim) of the model's attention layers."""
    config = model.config.get_text_config() if hasattr(model.config, "get_text_config") else model.config
    heads = getattr(config, "num_key_value_heads", None) or config.num_attention_heads
    head_dim = getattr(config, "head_dim", None) or config.hidden_size // config.num_attention_heads
    return heads, head_dim, head_dim
