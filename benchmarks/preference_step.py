"""Time one preference-training step (policy forward+backward, reference forward) on real pairs,
with TRL's fused LM head as TRL runs it on a CPU and with the labelled-positions head the harness uses.

    python benchmarks/preference_step.py --pairs runs/ipr-webshop/<run>/iter1/pairs/pairs.jsonl \
        --model runs/_shared/sft-<key>/model --batch 8 --repeats 3

Pairs are taken in file order, ``--batch`` per step; prints seconds per step for both heads and
writes them with the batch shape and the share of assistant tokens to ``--output``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path


def _step(model, reference, batch) -> float:
    import torch

    labels = batch["input_ids"].masked_fill(batch["completion_mask"] == 0, -100)
    start = time.perf_counter()
    with torch.no_grad():
        reference(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels, fused_lm_head=True)
    out = model(input_ids=batch["input_ids"], attention_mask=batch["attention_mask"], labels=labels, fused_lm_head=True)
    out.log_probs.sum().backward()
    model.zero_grad(set_to_none=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", required=True)
    parser.add_argument("--model", required=True)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--output", default="benchmarks/results/preference_step.json")
    args = parser.parse_args()

    from trl.trainer.utils import add_fused_lm_head

    from harness.models import load_model, load_tokenizer
    from harness.training.labelled_positions_head import project_labelled_positions_only
    from harness.training.preference import MaskedPreferenceCollator, tokenize_pair

    tok = load_tokenizer(args.model)
    rows = [json.loads(line) for line in Path(args.pairs).read_text().splitlines()][: args.batch]
    batch = MaskedPreferenceCollator(tok.pad_token_id)([tokenize_pair(tok, r["prompt"], r["chosen"], r["rejected"]) for r in rows])
    share = batch["completion_mask"].sum().item() / batch["attention_mask"].sum().item()
    import os

    import torch

    figures: dict[str, object] = {"batch_shape": list(batch["input_ids"].shape), "assistant_token_share": round(share, 4),
                                  "torch_threads": torch.get_num_threads(), "cpus": os.cpu_count()}  # fmt: skip
    for head in ("trl", "labelled_positions"):
        model, reference = load_model(args.model), load_model(args.model)
        for m in (model, reference):
            add_fused_lm_head(m, outputs=("log_probs", "entropy", "mean_logits", "is_top1"))
            if head == "labelled_positions":
                project_labelled_positions_only(m)
        _step(model, reference, batch)  # warm-up
        times = [_step(model, reference, batch) for _ in range(args.repeats)]
        figures[f"{head}_seconds_per_step"] = round(statistics.median(times), 3)
        print(f"{head:>20}: {statistics.median(times):.2f} s per step of {args.batch} pairs {tuple(batch['input_ids'].shape)}")
    figures["speedup"] = round(figures["trl_seconds_per_step"] / figures["labelled_positions_seconds_per_step"], 2)
    print(f"speed-up {figures['speedup']}x; assistant tokens are {share:.1%} of the batch")
    Path(args.output).parent.mkdir(parents=True, exist_ok=True)
    Path(args.output).write_text(json.dumps(figures, indent=2) + "\n")


if __name__ == "__main__":
    main()
