"""Where the tiny preset's training time and memory go on a CPU, and what each fix saves.

Measures, each in a fresh process (so peak RSS is the variant's own), on a finished tiny run's data:

- the preference update (IPR's DPO + NLL) on the run's iteration-1 pairs, one epoch at the global
  batch of 16 pairs, with transformers' ``sdpa`` attention (a [batch, 1, L, L] mask per forward)
  or unpadded attention (harness/training/unpadded_attention.py), at several per-device batches;
- SFT on the run's expert episodes, one epoch at the global batch of 16, the same variants;
- copy pretraining steps with the full vocabulary projection or the labelled positions only.

    python benchmarks/cpu_training_costs.py --run runs/ipr-webshop/tiny-seed42-XXXX

Writes ``benchmarks/results/cpu_training_costs.json``. Timings need idle cores to mean anything;
the machine's load average is recorded before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

VARIANTS = [
    {"stage": "preference", "attention": "sdpa", "per_device": 8},
    {"stage": "preference", "attention": "unpadded", "per_device": 8},
    {"stage": "preference", "attention": "unpadded", "per_device": 1},
    {"stage": "sft", "attention": "sdpa", "per_device": 16},
    {"stage": "sft", "attention": "unpadded", "per_device": 16},
    {"stage": "sft", "attention": "unpadded", "per_device": 2},
    {"stage": "copy_pretraining", "head": "all positions"},
    {"stage": "copy_pretraining", "head": "labelled positions"},
]


def _inputs(run: Path) -> dict[str, Path]:
    """The run's SFT model, its starting model, and its SFT and iteration-1 training jobs (the
    folders named in the jobs, found under the runs folder's _shared/)."""
    shared = run.parent.parent / "_shared"
    job = run / "iter1" / "train"
    sft = shared / Path(json.loads((job / "job.json").read_text())["model"]).parent.name
    model = shared / Path(json.loads((sft / "job.json").read_text())["model"]).parent.name / "model"
    return {"sft": sft / "model", "sft_job": sft, "model": model, "job": job}


def measure(variant: dict, run: Path, pairs: int, episodes: int, steps: int) -> dict:
    """Run one variant in this process and return its seconds and peak RSS."""
    import harness.training.labelled_positions_head as head
    import harness.training.unpadded_attention as attention

    if variant.get("attention") == "sdpa":
        attention.use_unpadded_attention = lambda model: False
    if variant.get("head") == "all positions":
        head.labelled_positions_loss_only = lambda model: None
    from harness.execution.checkpoints import read_jsonl

    inputs, out = _inputs(run), Path(tempfile.mkdtemp(prefix="cpu-training-costs-"))
    start = time.perf_counter()
    if variant["stage"] == "preference":
        from harness.training.preference import PreferenceSettings
        from harness.training.preference_stage import train_preference

        job = json.loads((inputs["job"] / "job.json").read_text())
        settings = PreferenceSettings(**{**job["settings"], "epochs": 1, "per_device_batch_size": variant["per_device"]})
        rows = read_jsonl(inputs["job"] / "job_rows.jsonl")[:pairs]
        train_preference(str(inputs["sft"]), str(inputs["sft"]), rows, out, settings, seed=42, checkpoint_every_s=None)
        work = f"{len(rows)} pairs, 1 epoch, batch {settings.batch_size}"
    elif variant["stage"] == "sft":
        from harness.training.sft import SFTSettings, train_sft

        convs = [r["messages"] for r in read_jsonl(inputs["sft_job"] / "job_rows.jsonl")[:episodes]]
        settings = SFTSettings(epochs=1, batch_size=16, per_device_batch_size=variant["per_device"], learning_rate=3e-3, max_length=2048)
        train_sft(str(inputs["model"]), convs, out, settings)
        work = f"{len(convs)} episodes, 1 epoch, batch 16"
    else:
        from harness.models import expert_conversations, load_model, load_tokenizer
        from harness.training.copy_pretraining import CopyPretraining, copy_pretrain

        texts = [m["content"] for conv in expert_conversations("webshop", {}, limit=800) for m in conv]
        model, tok = load_model(str(inputs["model"])), load_tokenizer(str(inputs["model"]))
        start = time.perf_counter()  # the corpus is built once per run, not per step
        copy_pretrain(model, tok, texts, CopyPretraining(steps=steps), seed=42, log=lambda _: None)
        work = f"{steps} steps of 32 sequences"
    seconds = time.perf_counter() - start
    shutil.rmtree(out, ignore_errors=True)
    return {**variant, "work": work, "seconds": round(seconds, 1),
            "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)}  # fmt: skip


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a finished tiny ipr-webshop run folder (runs/ipr-webshop/tiny-seed42-...)")
    ap.add_argument("--pairs", type=int, default=32)
    ap.add_argument("--episodes", type=int, default=160)
    ap.add_argument("--steps", type=int, default=40, help="copy pretraining steps")
    ap.add_argument("--one", default=None, help=argparse.SUPPRESS)  # one variant, in a child process
    ap.add_argument("--output", default="benchmarks/results/cpu_training_costs.json")
    args = ap.parse_args()
    run = Path(args.run)
    if args.one:
        print(json.dumps(measure(json.loads(args.one), run, args.pairs, args.episodes, args.steps)))
        return 0
    load_before, rows = os.getloadavg(), []
    for variant in VARIANTS:
        cmd = [sys.executable, __file__, "--run", str(run), "--pairs", str(args.pairs), "--episodes", str(args.episodes),
               "--steps", str(args.steps), "--one", json.dumps(variant)]  # fmt: skip
        proc = subprocess.run(cmd, capture_output=True, text=True, check=True)
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(json.dumps(rows[-1]), flush=True)
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    out.write_text(json.dumps({
        "run": str(run), "variants": rows, "torch_threads": os.environ.get("OMP_NUM_THREADS", "default"),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_average_before": load_before,
                    "load_average_after": os.getloadavg()},
        "git_commit": commit,
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
