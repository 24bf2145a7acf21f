"""Play a scripted policy on every task of a split, in parallel processes, and print the scores.

The heavy checks behind the environments' acceptance numbers (too slow for the test suite):

    python benchmarks/env_policy_check.py alfworld --split seen,unseen --policy expert --workers 2
    python benchmarks/env_policy_check.py intercode_sql --split all --policy expert --env-arg engine=mariadb

``--policy random`` plays a uniformly random available action (``available_actions()``'s
clickables, whole commands for environments with ``click_format``). Writes one JSON line per task
to ``--output`` when given, and prints averages, successes, steps and wall time per split.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import time


class AnyAvailableAction:
    """Random policy over ``available_actions()``; whole commands where the env has ``click_format``."""

    name = "random"

    def act(self, episodes, sampling=None):
        from harness.policies.scripted import episode_rng
        from harness.prompting import format_react

        out = []
        for v in episodes:
            rng = episode_rng(v, "random")
            clicks = list(v.env.available_actions().clickables) or ["look"]
            fmt = getattr(v.env, "click_format", "click[{}]")
            out.append(format_react("I will try something.", fmt.format(rng.choice(clicks))))
        return out


def _run(job: tuple[str, dict, str, str, int]) -> dict:
    env_name, env_kwargs, tid, policy_name, seed = job
    from harness.envs import make_env
    from harness.policies.scripted import ExpertPolicy
    from harness.rollout import run_episodes

    policy = ExpertPolicy() if policy_name == "expert" else AnyAvailableAction()
    start = time.perf_counter()
    t = run_episodes(lambda: make_env(env_name, **env_kwargs), [tid], policy, seed=seed)[0]
    return {"task_id": tid, "reward": t.final_reward, "success": t.success, "steps": len(t.steps), "stop": t.stop_reason,
            "seconds": round(time.perf_counter() - start, 2), "env_version": t.env_version}


def main() -> None:
    """Command-line entry point."""
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("env")
    p.add_argument("--split", default="test", help="comma-separated splits")
    p.add_argument("--policy", default="expert", choices=["expert", "random"])
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--env-arg", action="append", default=[], help="factory keyword, key=value")
    p.add_argument("--output", default=None)
    args = p.parse_args()
    from harness.envs import make_env

    env_kwargs = dict(a.split("=", 1) for a in args.env_arg)
    env = make_env(args.env, **env_kwargs)
    print(f"{args.env} {env.version}")
    rows = []
    for split in args.split.split(","):
        ids = env.task_ids(split)[: args.limit]
        start = time.perf_counter()
        results = []
        with mp.get_context("spawn").Pool(args.workers, maxtasksperchild=50) as pool:
            jobs = [(args.env, env_kwargs, tid, args.policy, args.seed) for tid in ids]
            for r in pool.imap_unordered(_run, jobs):
                results.append(r)
                if len(results) % 25 == 0:
                    print(f"  {split}: {len(results)}/{len(ids)} episodes", flush=True)
        n = len(results)
        avg = sum(r["reward"] for r in results) / n
        succ = sum(r["success"] for r in results) / n
        steps = sum(r["steps"] for r in results) / n
        failed = sorted(r["task_id"] for r in results if not r["success"])
        print(f"{split}: n={n} avg_reward={avg:.4f} success={succ:.4f} mean_steps={steps:.2f} "
              f"wall={time.perf_counter() - start:.0f}s failed={failed[:10]}{' ...' if len(failed) > 10 else ''}")
        rows += [{"split": split, "policy": args.policy, **r} for r in results]
    if args.output:
        with open(args.output, "w") as f:
            f.writelines(json.dumps(r) + "\n" for r in rows)


if __name__ == "__main__":
    main()
