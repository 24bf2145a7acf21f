"""Episode histories to prompt token ids, shared by the model backends (transformers and vLLM).

Both backends render the same chat template with the same tokenizer and hand the model token ids,
so a greedy reply differs between them only if the kernels' numerics do. A prompt that leaves no
room for a reply in the model's context becomes a :class:`ContextOverflow` reply.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from harness.policies.base import ContextOverflow, EpisodeView, Sampling, cut_at_stop, sample_seed


@dataclass(frozen=True)
class Prompt:
    """One episode's prompt: its token ids and how many new tokens still fit in the context."""

    ids: list[int]
    budget: int
    """``min(max_new_tokens, context - len(ids))``: the reply is cut there (it ends as if at EOS)."""


@dataclass
class GenerationStats:
    """Counters a model policy keeps across ``act`` calls (read by benchmarks and logs)."""

    act_calls: int = 0
    generate_calls: int = 0
    prompts: int = 0
    prompt_tokens: int = 0
    generated_tokens: int = 0
    overflows: int = 0
    generate_seconds: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)


def encode_prompts(
    tokenizer: Any, episodes: Sequence[EpisodeView], context: int, max_new_tokens: int
) -> list[Prompt | ContextOverflow]:
    """Render every episode's messages with the chat template (plus the assistant header) and tokenize.

    An episode whose prompt has ``context`` tokens or more cannot get a reply: it gets a
    :class:`ContextOverflow` instead, which ends the episode as a failure.
    """
    if not episodes:
        return []
    ids_batch = _tokenize_incrementally(tokenizer, episodes)
    out: list[Prompt | ContextOverflow] = []
    for ids in ids_batch:
        if len(ids) >= context:
            out.append(ContextOverflow(f"the prompt has {len(ids)} tokens; the model's context is {context}"))
        else:
            out.append(Prompt(ids=list(ids), budget=min(max_new_tokens, context - len(ids))))
    return out


def _tokenize_incrementally(tokenizer: Any, episodes: Sequence[EpisodeView]) -> list[list[int]]:
    """Prompt ids of every episode, tokenizing only what was added since its previous step.

    Each step appends turns to the history, so the rendered conversation grows at the end. The ids
    of the previous rendering are kept in the episode's ``scratch``; the new text is tokenized
    alone when it starts with a special token (the chat template's turn marker), where
    tokenization cannot merge across the boundary. Otherwise the whole prompt is tokenized.
    """
    key = ("prompt_ids", id(tokenizer))
    convs = [v.messages for v in episodes]
    history = tokenizer.apply_chat_template(convs, add_generation_prompt=False, tokenize=False)
    prompts = tokenizer.apply_chat_template(convs, add_generation_prompt=True, tokenize=False)
    markers = tuple(tokenizer.all_special_tokens)
    known: list[list[int]] = []
    pieces: list[str] = []
    for v, hist, full in zip(episodes, history, prompts, strict=True):
        prev_text, prev_ids = v.scratch.get(key, ("", []))
        header = full[len(hist) :]
        new = hist[len(prev_text) :]
        if not (full.startswith(hist) and hist.startswith(prev_text) and header.startswith(markers)):
            prev_text, prev_ids, new, header = "", [], full, ""  # a template that rewrites history
        elif prev_text and not new.startswith(markers):
            prev_text, prev_ids, new = "", [], hist
        known.append(prev_ids)
        pieces.extend([new, header])
    encoded = tokenizer(pieces, add_special_tokens=False, verbose=False)["input_ids"]
    out = []
    for i, (v, hist) in enumerate(zip(episodes, history, strict=True)):
        ids = known[i] + list(encoded[2 * i])
        v.scratch[key] = (hist, ids)
        out.append(ids + list(encoded[2 * i + 1]))
    return out


def eos_token_ids(tokenizer: Any, generation_config: Any = None) -> list[int]:
    """Every token that ends a reply: the tokenizer's EOS and the model's generation-config EOS ids."""
    ids: list[int] = []
    candidates = [getattr(generation_config, "eos_token_id", None), tokenizer.eos_token_id]
    for c in candidates:
        for i in c if isinstance(c, (list, tuple)) else [c]:
            if i is not None and i not in ids:
                ids.append(int(i))
    if not ids:
        raise ValueError("the tokenizer has no EOS token: a reply could never end; set tokenizer.eos_token")
    return ids


def cut_at_eos(tokens: Sequence[int], eos_ids: Sequence[int]) -> tuple[list[int], bool]:
    """The reply's tokens up to (excluding) the first EOS, and whether an EOS was seen."""
    eos = set(eos_ids)
    for i, t in enumerate(tokens):
        if t in eos:
            return list(tokens[:i]), True
    return list(tokens), False


class TokenPolicy:
    """What the model backends share: prompts to token ids, one ``generate_tokens`` call, decoding.

    A backend sets ``name``, ``tokenizer``, ``context`` and ``stats`` and implements
    ``generate_tokens(prompts, seeds, sampling) -> list[list[int]]`` (reply tokens, EOS excluded).
    """

    name: str
    tokenizer: Any
    context: int
    stats: GenerationStats

    def act(self, episodes: Sequence[EpisodeView], sampling: Sampling = Sampling()) -> list[str]:
        """One reply per episode; a :class:`ContextOverflow` where the history no longer fits."""
        self.stats.act_calls += 1
        encoded = encode_prompts(self.tokenizer, episodes, self.context, sampling.max_new_tokens)
        rows = [i for i, e in enumerate(encoded) if isinstance(e, Prompt)]
        self.stats.overflows += len(episodes) - len(rows)
        seeds = [sample_seed(episodes[i]) for i in rows]
        tokens = self.generate_tokens([encoded[i] for i in rows], seeds, sampling)  # type: ignore[misc]
        out: list[str] = [e if isinstance(e, ContextOverflow) else "" for e in encoded]
        for i, toks in zip(rows, tokens, strict=True):
            out[i] = cut_at_stop(self.tokenizer.decode(toks, skip_special_tokens=True), sampling.stop).strip()
        return out

    def generate_tokens(self, prompts: Sequence[Prompt], seeds: Sequence[int], sampling: Sampling) -> list[list[int]]:
        """The reply tokens of every prompt, in order (implemented by each backend)."""
        raise NotImplementedError
