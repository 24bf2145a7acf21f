"""Rollouts on Ray workers, measured in one run: what N workers buy, and what our Monte-Carlo estimate
saves against IPR's way of computing the same estimate.

1. ``estimate``: the Monte-Carlo estimate of a finished tiny-preset run's iteration-1 explored
   trajectories (its SFT scorer, N rollouts per scored action: the ``iter1/estimate`` stage's
   rollouts) through the execution seam with ``workers=1`` (in this process) and ``workers=2`` (a
   local Ray cluster); wall time, episodes/s, and whether the rows are identical.
2. ``alfworld``: ALFWorld expert episodes/s on train games at 1, 2 and 4 workers (the scripted
   expert: the environment's cost alone, reset and game loading included), and the same games
   replayed many times with environments kept alive (``EnvPool``) against a new one per episode.
3. ``mc_cost``: our estimate against IPR's (N full rollouts, each from reset with the prefix
   replayed, no prefix reuse): computed prompt tokens, generated tokens, environment steps and wall
   time for the same targets. Ours replays a shared prefix once and forks the environment (WebShop),
   and keeps each episode's keys/values between steps (the transformers backend).

    python benchmarks/ray_scaling.py --run runs/ipr-webshop/tiny-seed42-XXXX

Writes ``benchmarks/results/ray_scaling.json``. Needs the ray extra; the ALFWorld part needs its
game files and packages (skipped with a note otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any


def _context(run: Path):
    from harness.pipeline.context import Context
    from harness.pipeline.recipe_run import stage0_keys
    from harness.pipeline.runner import Run
    from harness.recipes import Recipe, build

    recipe = build(Recipe, json.loads((run / "recipe.resolved.json").read_text())["recipe"], str(run))
    r = Run(recipe, run.parent.parent, run.name, log=lambda _: None)
    for name, key in stage0_keys(recipe).items():  # point the run at its shared stage-0 folders
        r._folders[name] = (r.runs_dir / "_shared" / f"{name}-{key[:16]}", key)
    return Context(r)


def _estimate_plan(ctx, limit: int | None):
    from harness.methods.ipr import estimate_targets
    from harness.pipeline.context import read_trajectories
    from harness.rewards.monte_carlo import plan_rollouts

    r = ctx.recipe
    explored = read_trajectories(ctx.iteration_file(1, "explore", "explored.jsonl"))
    targets = estimate_targets(explored, ctx.load_experts())[:limit]
    return plan_rollouts(targets, r.estimate.n, r.seed, ctx.make_env().max_steps)


def _timed_rollouts(settings, make_env, specs, model, sampling, chunk_size: int) -> tuple[float, list[dict]]:
    import ray

    from harness.execution.executor import Executor
    from harness.rewards.monte_carlo import final_reward_row

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        rows = Executor(settings, make_env, log=lambda _: None).rollouts(
            Path(tmp), specs, model, sampling, row=final_reward_row, chunk_size=chunk_size
        )
        seconds = time.perf_counter() - started
    if ray.is_initialized():
        ray.shutdown()  # a fresh cluster per configuration: its start-up is part of the figure
    return seconds, rows


def estimate_scaling(ctx, limit: int | None) -> dict[str, Any]:
    """Section 1: the iteration-1 estimate on 1 and 2 workers."""
    from dataclasses import replace

    from harness.envs.pool import env_factory

    r = ctx.recipe
    plan = _estimate_plan(ctx, limit)
    make_env = env_factory(r.env.id, **ctx.env_kwargs)
    sampling = ctx.sampling(r.explore, r.estimate.temperature)
    sft = ctx.run.manifest("sft")["path"]
    out: dict[str, Any] = {"targets": plan.n_targets, "rollouts": len(plan.specs), "n": r.estimate.n, "by_workers": {}}
    rows = {}
    import torch

    threads = torch.get_num_threads()
    # "1 (1 thread)": this process limited to the one torch thread a Ray worker gets (a per-worker baseline)
    for name, workers, n_threads in (("1", 1, threads), ("1 (1 thread)", 1, 1), ("2", 2, threads)):
        torch.set_num_threads(n_threads)
        seconds, rows[name] = _timed_rollouts(replace(r.execution, workers=workers), make_env, plan.specs, sft, sampling, 128)
        torch.set_num_threads(threads)
        out["by_workers"][name] = {"seconds": round(seconds, 1), "episodes_per_s": round(len(plan.specs) / seconds, 2),
                                   "torch_threads_per_worker": n_threads if workers == 1 else 1}  # fmt: skip
        print(f"estimate  workers={name}: {len(plan.specs)} rollouts in {seconds:.1f} s ({len(plan.specs) / seconds:.2f} ep/s)")
    out["identical_rows"] = rows["1"] == rows["2"] == rows["1 (1 thread)"]
    out["speedup_2_workers"] = {base: round(out["by_workers"][base]["seconds"] / out["by_workers"]["2"]["seconds"], 2)
                                for base in ("1", "1 (1 thread)")}  # fmt: skip
    print(f"estimate  identical rows on every configuration: {out['identical_rows']}; 2 workers' speed-up {out['speedup_2_workers']}")
    return out


def alfworld_scaling(episodes: int, repeats: int) -> dict[str, Any]:
    """Section 2: ALFWorld expert episodes/s at 1, 2 and 4 workers, and environment reuse."""
    from harness.envs.pool import EnvPool, env_factory
    from harness.execution.settings import ExecutionSettings
    from harness.policies import Sampling
    from harness.policies.scripted import ExpertPolicy
    from harness.rollout import EpisodeSpec, play_specs

    try:
        make_env = env_factory("alfworld")
        ids = make_env().task_ids("train")[:episodes]
    except Exception as e:  # noqa: BLE001 - a missing package or data folder: say so in the JSON
        print(f"alfworld  skipped: {e}")
        return {"skipped": str(e)}
    specs = [EpisodeSpec(tid, 0) for tid in ids]
    out: dict[str, Any] = {"episodes": len(specs), "by_workers": {}}
    for workers in (1, 2, 4):
        seconds, rows = _timed_rollouts(ExecutionSettings(workers=workers), make_env, specs, "expert", Sampling(), 4)
        won = sum(r["final_reward"] > 0 for r in rows)
        out["by_workers"][workers] = {"seconds": round(seconds, 1), "episodes_per_s": round(len(specs) / seconds, 3), "won": won}
        print(f"alfworld  workers={workers}: {len(specs)} expert episodes ({won} won) in {seconds:.1f} s "
              f"({len(specs) / seconds:.2f} ep/s)")  # fmt: skip
    one = out["by_workers"][1]["seconds"]
    out["speedup"] = {w: round(one / f["seconds"], 2) for w, f in out["by_workers"].items()}
    # environment reuse: a few games played again and again (as Monte-Carlo rollouts do)
    few = [EpisodeSpec(tid, 0) for tid in ids[:4]] * repeats
    reuse: dict[str, Any] = {"episodes": len(few), "games": 4}
    for name, envs in (("new_env_per_episode", None), ("kept_alive", EnvPool(make_env))):
        started = time.perf_counter()
        for k in range(0, len(few), 4):
            play_specs(envs if envs is not None else make_env, few[k : k + 4], ExpertPolicy(), Sampling())
        seconds = time.perf_counter() - started
        reuse[name] = {"seconds": round(seconds, 1), "episodes_per_s": round(len(few) / seconds, 2)}
        print(f"alfworld  {name}: {len(few)} episodes of 4 games in {seconds:.1f} s ({len(few) / seconds:.2f} ep/s)")
    out["env_reuse"] = reuse
    return out


class _Counted:
    """An environment whose steps and resets are counted (``fork`` only if ``forks``)."""

    def __init__(self, env: Any, counts: dict[str, int]):
        self.env, self.counts = env, counts

    def __getattr__(self, name: str) -> Any:
        if name == "fork" and type(self) is _Counted:  # IPR's way: every rollout replays from reset
            raise AttributeError(name)
        return getattr(self.env, name)

    def reset(self, task_id: str) -> str:
        self.counts["resets"] += 1
        return self.env.reset(task_id)

    def step(self, action: str):
        self.counts["steps"] += 1
        return self.env.step(action)


class _CountedForking(_Counted):
    def fork(self) -> _CountedForking:
        self.counts["forks"] += 1
        return _CountedForking(self.env.fork(), self.counts)


def mc_cost(ctx, limit: int | None) -> dict[str, Any]:
    """Section 3: the same estimate our way and IPR's way, in this process."""
    from harness.envs.pool import env_factory
    from harness.execution.executor import play_chunk
    from harness.policies.hf import HFPolicy

    r = ctx.recipe
    plan = _estimate_plan(ctx, limit)
    sampling = ctx.sampling(r.explore, r.estimate.temperature)
    sft = ctx.run.manifest("sft")["path"]
    build = env_factory(r.env.id, **ctx.env_kwargs)
    out: dict[str, Any] = {"targets": plan.n_targets, "rollouts": len(plan.specs)}
    finals = {}
    for way, wrap, reuse in (("ours", _CountedForking, True), ("ipr", _Counted, False)):
        counts = {"resets": 0, "steps": 0, "forks": 0}
        policy = HFPolicy(sft, device="cpu", reuse_prefix=reuse)
        started = time.perf_counter()
        finals[way] = [t.final_reward for k in range(0, len(plan.specs), 128)
                       for t in play_chunk(lambda: wrap(build(), counts), policy, plan.specs[k : k + 128], sampling)]  # fmt: skip
        seconds = time.perf_counter() - started
        reused = policy.prefixes.reused_tokens if policy.prefixes is not None else 0
        out[way] = {"seconds": round(seconds, 1), "env_steps": counts["steps"], "env_resets": counts["resets"],
                    "env_forks": counts["forks"], "prompt_tokens_sent": policy.stats.prompt_tokens,
                    "prompt_tokens_computed": policy.stats.prompt_tokens - reused,
                    "generated_tokens": policy.stats.generated_tokens}  # fmt: skip
        o = out[way]
        print(f"mc_cost   {way:<4}: {seconds:.1f} s, {o['env_steps']} env steps, {o['env_resets']} resets, "
              f"{o['prompt_tokens_computed']} prompt tokens computed, {o['generated_tokens']} generated")  # fmt: skip
    out["equal_final_rewards"] = f"{sum(a == b for a, b in zip(finals['ours'], finals['ipr']))}/{len(finals['ours'])}"
    out["ratio_ipr_over_ours"] = {k: round(out["ipr"][k] / max(out["ours"][k], 1), 2)
                                  for k in ("seconds", "env_steps", "prompt_tokens_computed", "generated_tokens")}  # fmt: skip
    print(f"mc_cost   IPR's way / ours: {out['ratio_ipr_over_ours']}; equal final rewards {out['equal_final_rewards']}")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--run", required=True, help="a tiny-preset run folder with iter1/explore done (runs/ipr-webshop/<run_id>)")
    ap.add_argument("--limit", type=int, default=None, help="score only the first N estimate targets (default: all)")
    ap.add_argument("--alfworld-episodes", type=int, default=48)
    ap.add_argument("--alfworld-repeats", type=int, default=6)
    ap.add_argument("--sections", default="estimate,alfworld,mc_cost")
    ap.add_argument("--output", default="benchmarks/results/ray_scaling.json")
    args = ap.parse_args()
    ctx = _context(Path(args.run))
    sections = args.sections.split(",")
    results: dict[str, Any] = {}
    if "estimate" in sections:
        results["estimate"] = estimate_scaling(ctx, args.limit)
    if "alfworld" in sections:
        results["alfworld"] = alfworld_scaling(args.alfworld_episodes, args.alfworld_repeats)
    if "mc_cost" in sections:
        results["mc_cost"] = mc_cost(ctx, args.limit)
    from harness.execution.settings import _version

    out = Path(args.output)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "run": args.run, "limit": args.limit,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "load_avg_at_end": os.getloadavg()},
        "versions": {p: _version(p) for p in ("ray", "torch", "transformers")},
        "git_commit": subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip(),
        **results,
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
