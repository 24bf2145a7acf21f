"""Copy pretraining: the in-context copying a pretrained LM brings, taught to a from-scratch model.

An agent copies from its context all the time (the product type from the instruction into the
search query, an ASIN from the results page into ``click[...]``, an option value into the next
click). Pretrained models can; a from-scratch model of a few million parameters does not learn it
from a CPU-sized SFT run: measured on the tiny WebShop preset, the SFT model's loss on its first
reply is the same with the task's own instruction and with another task's (0.764 vs 0.767): it
ignores its context, and scores 0 on every validation goal.

This stage trains the copying mechanism directly, on the model's own corpus text. Each example is

    x = [s ; f ; s]        s: a random span of ``span`` corpus tokens, f: a random filler span of
                           0..``max_filler`` corpus tokens

and the loss is the mean next-token NLL over the second copy of s after its first token:

    L = -(1 / (B (span - 1))) * sum_b sum_{t=2..span} log p(s_t | s, f, s_<t)

Predicting s_t well from the first copy is what an induction head does. Draws are seeded; the step
count, span, learning rate and seed are recorded in the model's manifest.
"""

from __future__ import annotations

import random
import time
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class CopyPretraining:
    steps: int = 0
    """Optimizer steps (0 = no copy pretraining)."""
    batch_size: int = 32
    span: int = 40
    max_filler: int = 40
    learning_rate: float = 3e-3
    warmup_steps: int = 30


def copy_pretrain(model: Any, tokenizer: Any, texts: list[str], settings: CopyPretraining, seed: int,
                  log: Any = print) -> dict[str, Any]:  # fmt: skip
    """Train ``model`` in place on ``settings.steps`` batches of repeated corpus spans (module doc);
    return the first and last losses and the seconds taken."""
    import torch

    if settings.steps <= 0:
        return {"steps": 0}
    stream = [t for text in texts for t in tokenizer(text, add_special_tokens=False)["input_ids"]]
    need = 2 * settings.span + settings.max_filler
    if len(stream) < need:
        raise ValueError(f"copy pretraining needs a corpus of at least {need} tokens, got {len(stream)}: use more corpus tasks")
    rng = random.Random(f"copy-pretrain:{seed}")
    torch.manual_seed(seed)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    pad = tokenizer.pad_token_id

    def draw(n: int) -> list[int]:
        i = rng.randrange(len(stream) - n + 1)
        return stream[i : i + n]

    start, losses = time.perf_counter(), []
    for step in range(settings.steps):
        seqs = []
        for _ in range(settings.batch_size):
            s = draw(settings.span)
            seqs.append(s + draw(rng.randint(0, settings.max_filler)) + s)
        width = max(len(s) for s in seqs)
        ids = torch.full((len(seqs), width), pad)
        labels = torch.full((len(seqs), width), -100)
        mask = torch.zeros((len(seqs), width), dtype=torch.long)
        for b, s in enumerate(seqs):
            ids[b, : len(s)] = torch.tensor(s)
            mask[b, : len(s)] = 1
            labels[b, len(s) - settings.span + 1 : len(s)] = torch.tensor(s[-settings.span + 1 :])
        for group in opt.param_groups:
            group["lr"] = settings.learning_rate * min(1.0, (step + 1) / max(settings.warmup_steps, 1))
        loss = model(input_ids=ids, attention_mask=mask, labels=labels).loss
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        opt.zero_grad()
        losses.append(loss.item())
        if step % 100 == 0 or step == settings.steps - 1:
            log(f"  copy pretraining step {step + 1}/{settings.steps}: loss {losses[-1]:.3f}")
    model.eval()
    tail = losses[-20:]
    return {"steps": settings.steps, "loss_first": losses[0], "loss_last20": sum(tail) / len(tail),
            "seconds": round(time.perf_counter() - start, 1)}  # fmt: skip
