"""The transformers backend: one batched ``generate`` call answers every live episode.

Rows are left-padded into one batch (``batch_size`` splits it when memory is short; rows are
sorted by length first so padding stays small). Greedy decoding at temperature 0; at T > 0 every
row samples from its own seeded stream (see ``hf_sampling``), so an episode's replies depend only
on (seed, task id, step) and never on the rest of the batch.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from harness.policies.base import Sampling
from harness.policies.encoding import GenerationStats, Prompt, TokenPolicy, cut_at_eos, eos_token_ids


class HFPolicy(TokenPolicy):
    """A causal LM behind the batched ``act`` contract, via ``transformers``' ``generate``."""

    def __init__(
        self,
        model: str,
        device: str = "auto",
        dtype: str = "auto",
        batch_size: int | None = None,
        context: int | None = None,
        trust_remote_code: bool = False,
        kv_cache: str = "growing",
        prefill_tokens: int | None = -1,
        kv_cache_gib: float | None = None,
        reuse_prefix: bool = True,
    ):
        """Load ``model`` (folder, Hub id or paper name) on ``device``; ``context`` overrides its length.

        ``kv_cache``: ``growing`` (preallocated, see ``hf_cache``; the default), or transformers'
        ``dynamic`` / ``static``. ``prefill_tokens``: prompt tokens per prefill pass with the growing
        cache (default: 2048 on CPU, where big passes are slow; unlimited on GPU; ``None``: unlimited).
        ``batch_size`` / ``kv_cache_gib`` cap the rows of one generate call and the memory their KV
        cache may take (default: a third of the free GPU memory; on CPU twice the weights, 0.5-4 GiB); a bigger batch is split.
        ``reuse_prefix``: keep each row's keys/values for the next step (``hf_prefix``; growing cache
        only); call :meth:`clear_prefixes` after changing the model's weights in place.
        """
        from harness.models import context_length, load_model, load_tokenizer, model_provenance

        self.name = f"hf:{model}"
        self.tokenizer = load_tokenizer(model, trust_remote_code=trust_remote_code)
        self.model = load_model(model, device=device, dtype=dtype, trust_remote_code=trust_remote_code)
        self.device = self.model.device
        self.context = context or context_length(self.model)
        self.batch_size = batch_size
        if kv_cache not in ("growing", "dynamic", "static"):
            raise ValueError(f"kv_cache must be growing, dynamic or static, not '{kv_cache}'")
        self.kv_cache = kv_cache
        if prefill_tokens == -1:
            prefill_tokens = 2048 if self.device.type == "cpu" else None
        self.prefill_tokens = prefill_tokens
        self.max_batch_tokens = _kv_token_budget(self.model, kv_cache_gib)
        from harness.policies.hf_prefix import PrefixStore

        self.prefixes = PrefixStore(self.max_batch_tokens) if reuse_prefix and kv_cache == "growing" else None
        self.eos_ids = eos_token_ids(self.tokenizer, self.model.generation_config)
        self.pad_id = self.tokenizer.pad_token_id if self.tokenizer.pad_token_id is not None else self.eos_ids[0]
        self.stats = GenerationStats()
        self.provenance = {
            "backend": "transformers",
            **model_provenance(model, self.model.config),
            "device": str(self.device),
            "dtype": str(self.model.dtype).removeprefix("torch."),
            "context": self.context,
            "kv_cache": self.kv_cache,
            "reuse_prefix": self.prefixes is not None,
        }

    def generate_tokens(self, prompts: Sequence[Prompt], seeds: Sequence[int], sampling: Sampling) -> list[list[int]]:
        """The reply tokens (EOS excluded) of every prompt, in order, with as few generate calls as possible."""
        if not prompts:
            return []
        order = sorted(range(len(prompts)), key=lambda i: -len(prompts[i].ids))
        result: list[list[int]] = [[] for _ in prompts]
        for chunk in self._chunks(order, prompts):
            outs = self._generate([prompts[i] for i in chunk], [seeds[i] for i in chunk], sampling)
            for i, toks in zip(chunk, outs, strict=True):
                result[i] = toks
        return result

    def _chunks(self, order: list[int], prompts: Sequence[Prompt]) -> list[list[int]]:
        """Consecutive rows (longest first) whose padded KV cache fits the budget, at most batch_size each."""
        chunks: list[list[int]] = []
        for i in order:
            if chunks:
                rows = chunks[-1] + [i]
                width = len(prompts[rows[0]].ids) + max(prompts[j].budget for j in rows)
                if len(rows) * width <= self.max_batch_tokens and len(rows) <= (self.batch_size or len(rows)):
                    chunks[-1] = rows
                    continue
            chunks.append([i])
        return chunks

    def _generate(self, prompts: Sequence[Prompt], seeds: Sequence[int], sampling: Sampling) -> list[list[int]]:
        from transformers import GenerationConfig

        from harness.policies.hf_sampling import make_processors

        input_ids, attention = self.pad_batch([p.ids for p in prompts])
        width = input_ids.shape[1]
        budgets = [p.budget for p in prompts]
        config = GenerationConfig(
            max_new_tokens=max(budgets),
            do_sample=False,  # sampling is done by the seeded processor, see hf_sampling
            num_beams=1,
            eos_token_id=self.eos_ids,
            pad_token_id=self.pad_id,
            **({"cache_implementation": "static"} if self.kv_cache == "static" else {}),
        )
        procs = make_processors(
            seeds, sampling.temperature, sampling.top_p, budgets, width, self.eos_ids[0], self.device
        )
        pasts = [self.prefixes.lookup(p.ids) for p in prompts] if self.prefixes is not None else None
        started = time.perf_counter()
        out, cache = self.run_model(input_ids, attention, config, procs, pasts)
        self.stats.generate_seconds += time.perf_counter() - started
        self.stats.generate_calls += 1
        replies = []
        steps = out.shape[1] - width
        for row, p in zip(out[:, width:].tolist(), prompts, strict=True):
            tokens, ended = cut_at_eos(row[: p.budget], self.eos_ids)
            replies.append(tokens)
            self.stats.generated_tokens += len(tokens) + int(ended)
        if self.prefixes is not None and cache is not None:
            # Every generated token but the last one was fed back, so its keys/values are cached.
            self.prefixes.save(cache, width, [(p.ids, r[: steps - 1]) for p, r in zip(prompts, replies, strict=True)])
        self.stats.prompts += len(prompts)
        self.stats.prompt_tokens += sum(len(p.ids) for p in prompts)
        return replies

    def run_model(
        self, input_ids: Any, attention_mask: Any, config: Any, processors: list[Any], pasts: list[Any] | None = None
    ) -> tuple[Any, Any]:
        """The model's part of one batch: fill the growing cache (reusing ``pasts``), then ``generate``.

        Returns the generated ids and the cache (``None`` when transformers built its own).
        """
        import torch
        from transformers import LogitsProcessorList

        cache = None
        if self.kv_cache == "growing":
            from harness.policies.hf_cache import growing_cache, prefill_in_chunks

            batch, width = input_ids.shape
            cache = growing_cache(self.model, width + config.max_new_tokens)
            reuse = pasts is not None and any(p is not None for p in pasts)
            chunked = self.prefill_tokens is not None and batch * width > self.prefill_tokens
            if cache is not None and width > 1 and (reuse or chunked):
                prefill_in_chunks(self.model, cache, input_ids, attention_mask, self.prefill_tokens, pasts)
        with torch.inference_mode():
            out = self.model.generate(
                input_ids=input_ids,
                attention_mask=attention_mask,
                generation_config=config,
                logits_processor=LogitsProcessorList(processors),
                **({"past_key_values": cache} if cache is not None else {}),
            )
        return out, cache

    def close(self) -> None:
        """Drop the model and the kept keys/values (the execution seam calls it when a stage is done)."""
        self.clear_prefixes()
        self.model = None

    def clear_prefixes(self) -> None:
        """Forget the keys/values kept for reuse (needed after the weights change)."""
        if self.prefixes is not None:
            self.prefixes.clear()

    def pad_batch(self, rows: Sequence[Sequence[int]]) -> tuple[Any, Any]:
        """Left-pad token rows into (input_ids, attention_mask) tensors on the model's device."""
        import torch

        width = max(len(r) for r in rows)
        ids = torch.full((len(rows), width), self.pad_id, dtype=torch.long)
        mask = torch.zeros((len(rows), width), dtype=torch.long)
        for i, r in enumerate(rows):
            ids[i, width - len(r) :] = torch.tensor(r, dtype=torch.long)
            mask[i, width - len(r) :] = 1
        return ids.to(self.device), mask.to(self.device)


def _kv_token_budget(model: Any, gib: float | None) -> int:
    """How many (row x position) KV entries fit in ``gib`` GiB (default: a third of the free GPU memory;
    on a CPU twice the weights' size, at least 0.5 and at most 4 GiB)."""
    import torch

    config = model.config
    text = config.get_text_config() if hasattr(config, "get_text_config") else config
    layers = getattr(text, "num_hidden_layers", 1)
    heads = getattr(text, "num_key_value_heads", None) or getattr(text, "num_attention_heads", 1)
    head_dim = getattr(text, "head_dim", None) or text.hidden_size // getattr(text, "num_attention_heads", 1)
    per_token = 2 * layers * heads * head_dim * model.dtype.itemsize
    if gib is None:
        if model.device.type == "cuda":
            free, _ = torch.cuda.mem_get_info(model.device)
            budget = free // 3  # a batch cache, plus the previous step's kept for prefix reuse
        else:
            # as big as the weights twice over, within [0.5, 4] GiB: a ~2M-parameter model gains nothing
            # from a 4 GiB batch cache (measured: the tiny preset's validation run at 0.5 GiB, the same
            # replies and time, 1.1 instead of 2.0 GiB peak), while a 135M one batches ~12 long prompts
            weights = sum(p.numel() * p.element_size() for p in model.parameters())
            budget = min(4 << 30, max(1 << 29, 2 * weights))
    else:
        budget = int(gib * (1 << 30))
    return max(1, budget // per_token)
