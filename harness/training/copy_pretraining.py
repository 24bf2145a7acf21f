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

With a ``checkpoint`` file the loop saves its whole state (weights, optimizer, the span sampler's
random state, the losses so far) there at least every ``checkpoint_every_s`` seconds, atomically,
and a re-run goes on from it: a kill loses about that much, and the result equals an uninterrupted run's.
"""

from __future__ import annotations

import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path
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
                  log: Any = print, checkpoint: str | Path | None = None,
                  checkpoint_every_s: float | None = 60.0) -> dict[str, Any]:  # fmt: skip
    """Train ``model`` in place on ``settings.steps`` batches of repeated corpus spans (module doc);
    return the first and last losses and the seconds taken. With ``checkpoint`` (a file path) it
    resumes from there and saves there every ``checkpoint_every_s`` seconds (module doc)."""
    import torch

    from harness.training.labelled_positions_head import labelled_positions_loss_only

    if settings.steps <= 0:
        return {"steps": 0}
    stream = [t for text in texts for t in tokenizer(text, add_special_tokens=False)["input_ids"]]
    need = 2 * settings.span + settings.max_filler
    if len(stream) < need:
        raise ValueError(f"copy pretraining needs a corpus of at least {need} tokens, got {len(stream)}: use more corpus tasks")
    rng = random.Random(f"copy-pretrain:{seed}")
    torch.manual_seed(seed)
    model.train()
    labelled_positions_loss_only(model)  # the loss reads ~40% of the positions: project only those
    opt = torch.optim.AdamW(model.parameters(), lr=settings.learning_rate, weight_decay=0.0)
    pad = tokenizer.pad_token_id
    identity = {"settings": asdict(settings), "seed": seed, "corpus_tokens": len(stream)}
    first, losses, seconds = _resume(checkpoint, identity, model, opt, rng, log)

    def draw(n: int) -> list[int]:
        i = rng.randrange(len(stream) - n + 1)
        return stream[i : i + n]

    start = last_save = time.perf_counter()
    for step in range(first, settings.steps):
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
        now = time.perf_counter()
        if checkpoint is not None and checkpoint_every_s and now - last_save >= checkpoint_every_s and step + 1 < settings.steps:
            _save(checkpoint, identity, step + 1, model, opt, rng, losses, seconds + now - start)
            last_save = now
    model.__dict__.pop("forward", None)  # the class's own forward again (generation needs logits)
    model.eval()
    tail = losses[-20:]
    return {"steps": settings.steps, "loss_first": losses[0], "loss_last20": sum(tail) / len(tail),
            "seconds": round(seconds + time.perf_counter() - start, 1), "resumed_at_step": first or None}  # fmt: skip


def _save(path: str | Path, identity: dict[str, Any], step: int, model: Any, opt: Any, rng: random.Random,
          losses: list[float], seconds: float) -> None:  # fmt: skip
    import torch

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    state = {"identity": identity, "step": step, "model": model.state_dict(), "optimizer": opt.state_dict(),
             "rng": rng.getstate(), "torch_rng": torch.get_rng_state(), "losses": losses, "seconds": seconds}  # fmt: skip
    torch.save(state, tmp)
    os.replace(tmp, path)


def _resume(path: str | Path | None, identity: dict[str, Any], model: Any, opt: Any, rng: random.Random,
            log: Any) -> tuple[int, list[float], float]:  # fmt: skip
    """(first step, losses so far, seconds so far) after loading the checkpoint at ``path``, if any."""
    import torch

    if path is None or not Path(path).exists():
        return 0, [], 0.0
    state = torch.load(path, weights_only=True)
    if state.get("identity") != identity:
        log(f"  copy pretraining: {path} belongs to other settings; starting over")
        return 0, [], 0.0
    model.load_state_dict(state["model"])
    opt.load_state_dict(state["optimizer"])
    version, internal, gauss = state["rng"]
    rng.setstate((version, tuple(internal), gauss))
    torch.set_rng_state(state["torch_rng"])
    log(f"  copy pretraining: resumed at step {state['step']} from {path}")
    return state["step"], list(state["losses"]), float(state["seconds"])
