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

from typing import Any


def _layer_class() -> type:
    from transformers.cache_utils import DynamicLayer

    class GrowingLayer(DynamicLayer):
        """A cache layer over a preallocated [batch, heads, capacity, dim] buffer, zero-filled."""

        def __init__(self, capacity: int):
            super().__init__()
            self.capacity = capacity
            self.length = 0

        def allocate(self, like_keys: Any, like_values: Any, batch: int) -> None:
            import torch

            _, heads, _, k_dim = like_keys.shape
            # Zeros, not empty: padded positions are masked, but 0 * NaN garbage would still be NaN.
            self.kbuf = torch.zeros((batch, heads, self.capacity, k_dim), dtype=like_keys.dtype, device=like_keys.device)
            self.vbuf = torch.zeros(
                (batch, heads, self.capacity, like_values.shape[-1]), dtype=like_values.dtype, device=like_values.device
            )
            self.dtype, self.device = like_keys.dtype, like_keys.device
            self.keys, self.values = self.kbuf[:, :, :0], self.vbuf[:, :, :0]
            self.is_initialized = True

        def lazy_initialization(self, key_states: Any, value_states: Any) -> None:
            self.allocate(key_states, value_states, key_states.shape[0])

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


def prefill_in_chunks(model: Any, cache: Any, input_ids: Any, attention_mask: Any, max_tokens: int) -> None:
    """Fill ``cache`` with every row's prompt except its last token, a few rows per forward pass.

    Rows must be sorted by length, longest first (left padding). Each pass covers consecutive rows
    whose (rows x longest prompt) stays within ``max_tokens``, and skips the columns that are
    padding for all of them. ``generate`` then feeds the last tokens and continues.
    """
    import torch

    batch, width = input_ids.shape
    lengths = attention_mask.sum(-1).tolist()
    start = 0
    while start < batch:
        longest = int(lengths[start])
        if longest <= 1:
            break  # this row and the shorter ones after it have nothing before their last token
        end = start + max(1, max_tokens // longest)
        end = min(end, batch)
        cols = slice(width - longest, width - 1)
        mask = attention_mask[start:end, cols]
        chunk = growing_cache(model, longest - 1)
        assert chunk is not None  # the caller checked that this model has plain layers
        with torch.inference_mode():
            model(
                input_ids=input_ids[start:end, cols],
                attention_mask=mask,
                position_ids=position_ids(mask),
                past_key_values=chunk,
                use_cache=True,
                logits_to_keep=1,
            )
        for big, small in zip(cache.layers, chunk.layers, strict=True):
            if not big.is_initialized:
                big.allocate(small.kbuf, small.vbuf, batch)
            big.kbuf[start:end, :, cols] = small.kbuf
            big.vbuf[start:end, :, cols] = small.vbuf
        start = end
    for big in cache.layers:
        big.length = width - 1
        big.keys, big.values = big.kbuf[:, :, : width - 1], big.vbuf[:, :, : width - 1]
