"""Logits processors that make transformers' batched ``generate`` reproducible per episode.

``generate(do_sample=True)`` draws every row from one global random stream, so a row's sample
depends on which other rows share the batch. Instead we run ``generate`` greedily and turn its
argmax into an exact sample with the Gumbel-max trick: with g_v ~ Gumbel(0, 1) i.i.d.,

    argmax_v (z_v / T + g_v)  ~  Categorical(softmax(z / T)),

where each row's Gumbel noise comes from its own generator seeded by (episode seed, task id, step).
Top-p keeps the smallest set of tokens whose probability reaches ``top_p`` (others get -inf) first.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def make_processors(
    seeds: Sequence[int] | None,
    temperature: float,
    top_p: float,
    budgets: Sequence[int],
    prompt_width: int,
    eos_id: int,
    device: Any,
) -> list[Any]:
    """The processors for one ``generate`` call: per-row token budgets, then seeded sampling if T > 0."""
    procs: list[Any] = []
    if min(budgets) < max(budgets):
        procs.append(RowBudget(budgets, prompt_width, eos_id, device))
    if temperature > 0:
        if seeds is None:
            raise ValueError("sampling (temperature > 0) needs one seed per row")
        procs.append(SeededGumbelSampler(seeds, temperature, top_p, device))
    return procs


class RowBudget:
    """Forces EOS on rows that used up their own token budget (rows near the context limit)."""

    def __init__(self, budgets: Sequence[int], prompt_width: int, eos_id: int, device: Any):
        import torch

        self.budgets = torch.tensor(list(budgets), device=device)
        self.prompt_width = prompt_width
        self.eos_id = eos_id

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        generated = input_ids.shape[1] - self.prompt_width
        full = self.budgets <= generated
        if bool(full.any()):
            scores = scores.clone()
            scores[full] = float("-inf")
            scores[full, self.eos_id] = 0.0
        return scores


class SeededGumbelSampler:
    """Temperature, top-p, then per-row Gumbel noise: greedy decoding of the result is sampling."""

    def __init__(self, seeds: Sequence[int], temperature: float, top_p: float, device: Any):
        import torch

        self.generators = [torch.Generator(device=device).manual_seed(int(s)) for s in seeds]
        self.temperature = temperature
        self.top_p = top_p
        self.device = device

    def __call__(self, input_ids: Any, scores: Any) -> Any:
        import torch

        logits = scores.float() / self.temperature
        if self.top_p < 1.0:
            logits = _top_p(logits, self.top_p)
        vocab = logits.shape[-1]
        # One draw per row from the row's own stream; the stream advances one vocabulary per token.
        u = torch.stack([torch.rand(vocab, generator=g, device=self.device) for g in self.generators])
        gumbel = -torch.log(-torch.log(u.clamp(min=1e-20, max=1.0 - 1e-7)))
        return logits + gumbel


def _top_p(logits: Any, top_p: float) -> Any:
    """Mask (-inf) every token outside the nucleus: the most likely tokens whose mass reaches top_p."""
    import torch

    sorted_logits, order = torch.sort(logits, descending=True, dim=-1)
    probs = sorted_logits.softmax(dim=-1)
    # A token stays when the mass before it is still below top_p (so the top token always stays).
    drop_sorted = (probs.cumsum(dim=-1) - probs) >= top_p
    drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
    return logits.masked_fill(drop, float("-inf"))
