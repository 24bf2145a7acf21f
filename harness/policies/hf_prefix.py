"""Keys and values kept from each episode's last step, so the next step computes only what is new.

An episode's prompt at step t+1 is its prompt at step t, the reply, and the new observation. The
reply's tokens were generated, so their keys and values exist already; re-encoding the whole
history every step is what makes long episodes prefill-bound (quadratic attention on a small
model, most of the FLOPs on a large one). After each generate call the store keeps, per row, the
tokens that went through the model (prompt + reply, the last reply token excepted) with their
keys and values; a later prompt reuses the longest stored prefix it starts with (vLLM's prefix
caching does the same with fixed-size blocks). The budget is in tokens of cache memory; the
oldest entries go first. Entries are views into their generate call's whole cache buffer (batch
rows x capacity), which stays allocated while any of its entries lives, so the budget counts each
buffer in full for as long as one of its entries is kept: counting only the entries' own tokens
let finished episodes pin one buffer per batch, and memory grew chunk after chunk (an IPR explore
stage over 400 WebShop tasks reached 16.6 GB and was killed). Re-tokenizing the reply text can
differ from the generated tokens: then the reuse simply stops at the first difference.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from typing import Any

from harness.policies.hf_cache import Past

MIN_REUSE = 16  # shorter shared prefixes are cheaper to recompute than to copy


class PrefixStore:
    """Per-row (tokens, keys/values) of recent generate calls, looked up by longest common prefix."""

    def __init__(self, max_tokens: int):
        self.max_tokens = max_tokens
        self.entries: OrderedDict[int, tuple[Any, list[tuple[Any, Any]], int]] = OrderedDict()  # (tokens, kv, buffer)
        self.buffers: dict[int, list[int]] = {}  # buffer id -> [size in tokens (rows x capacity), live entries]
        self.tokens = 0  # sum of the sizes of the buffers that live entries keep allocated
        self._next = 0  # id of the next entry
        self._next_buffer = 0  # id of the next generate call's buffer
        self.reused_tokens = 0
        self._matrix: tuple[list[int], Any] | None = None  # entries as a padded token matrix, built on demand
        self._superseded: set[int] = set()

    def clear(self) -> None:
        """Forget everything (call after the model's weights change)."""
        self.entries.clear()
        self.buffers.clear()
        self.tokens = 0
        self._matrix = None
        self._superseded.clear()

    def lookup(self, ids: Sequence[int]) -> Past | None:
        """Known keys/values for the longest stored prefix of ``ids`` (never its last token)."""
        if not self.entries:
            return None
        keys, lcp = self._match(ids)
        best = int(lcp.max())
        best_key = keys[int(lcp.argmax())]
        best = min(best, len(ids) - 1)
        if best < MIN_REUSE:
            return None
        self.entries.move_to_end(best_key)
        if int(lcp.max()) == len(self.entries[best_key][0]):
            self._superseded.add(best_key)  # this prompt extends the entry: its own entry will replace it
        self.reused_tokens += best
        layers = self.entries[best_key][1]
        return Past(best, [(k[:, :best], v[:, :best]) for k, v in layers])

    def _match(self, ids: Sequence[int]) -> tuple[list[int], Any]:
        """Entry keys and, for each, the length of its common prefix with ``ids`` (vectorised)."""
        import numpy as np

        if self._matrix is None:
            keys = list(self.entries)
            width = max(len(self.entries[k][0]) for k in keys)
            matrix = np.full((len(keys), width), -1, dtype=np.int64)  # -1 never equals a token id
            for row, k in enumerate(keys):
                tokens = self.entries[k][0]
                matrix[row, : len(tokens)] = tokens  # numpy arrays: a copy in C per row
            self._matrix = (keys, matrix)
        keys, matrix = self._matrix
        m = min(len(ids), matrix.shape[1])
        equal = matrix[:, :m] == np.asarray(ids[:m], dtype=np.int64)
        return keys, np.where(equal.all(axis=1), m, equal.argmin(axis=1))

    def save(self, cache: Any, width: int, rows: Sequence[tuple[Sequence[int], Sequence[int]]]) -> None:
        """Keep each row's (prompt, fed reply tokens) with its keys/values from ``cache``.

        Row i's prompt sits right-aligned in columns [width - len(prompt), width) and its reply's
        tokens from column ``width`` on; only reply tokens that were fed back to the model (all
        but the last generated one) have keys and values.
        """
        for key in self._superseded:
            if key in self.entries:
                self._drop(key)
        self._superseded.clear()
        kbuf = cache.layers[0].kbuf
        buffer, size = self._next_buffer, kbuf.shape[0] * kbuf.shape[2]
        self._next_buffer += 1
        for i, (prompt, fed) in enumerate(rows):
            if len(prompt) + len(fed) > self.max_tokens:
                continue
            cols = slice(width - len(prompt), width + len(fed))
            # Views, not copies: the entries of one call share its buffers, which live until every
            # entry is superseded (usually by the same episodes' next step) or evicted.
            layers = [(layer.kbuf[i, :, cols], layer.vbuf[i, :, cols]) for layer in cache.layers]
            self.entries[self._next] = (_as_array([*prompt, *fed]), layers, buffer)
            self._next += 1
            if buffer not in self.buffers:
                self.buffers[buffer] = [size, 0]
                self.tokens += size
            self.buffers[buffer][1] += 1
        # oldest first; the newest buffer is kept even when it alone is over the budget: it is
        # the cache the next step reuses, and it is allocated already
        while self.tokens > self.max_tokens and self.entries and next(iter(self.entries.values()))[2] != buffer:
            self._drop(next(iter(self.entries)))
        self._matrix = None

    def _drop(self, key: int) -> None:
        buffer = self.entries.pop(key)[2]
        self.buffers[buffer][1] -= 1
        if self.buffers[buffer][1] == 0:
            self.tokens -= self.buffers.pop(buffer)[0]


def _as_array(tokens: list[int]) -> Any:
    import numpy as np

    return np.asarray(tokens, dtype=np.int64)
