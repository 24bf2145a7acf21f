"""Time and peak memory of every stage of a recipe run (default: ``ipr-webshop``, tiny preset).

Runs ``harness reproduce`` in a fresh process (or reads an existing run folder with ``--run``),
then collects each stage's wall time and the process's peak RSS at the end of the stage from the
stage manifests, prints a table and writes ``benchmarks/results/reproduce_<recipe>_<preset>.json``.
Peak RSS is cumulative within the process, so it is an upper bound for the later stages.

    python benchmarks/reproduce_stages.py                       # runs the tiny preset (~30 min on 2 cores)
    python benchmarks/reproduce_stages.py --run runs/ipr-webshop/tiny-seed42-XXXX   # an existing run
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def stage0_manifests(run: Path) -> list[Path]:
    """The manifests of the run's shared stage-0 stages (``runs/_shared/<stage>-<key>``)."""
    from harness.pipeline.recipe_run import stage0_keys
    from harness.recipes import Recipe, build

    resolved = json.loads((run / "recipe.resolved.json").read_text())["recipe"]
    keys = stage0_keys(build(Recipe, resolved, str(run)))
    shared = run.parent.parent / "_shared"
    return [shared / f"{name}-{key[:16]}" / "manifest.json" for name, key in keys.items()]


def run_commit(run: Path) -> str | None:
    """The git commit the run's code was at, from the provenance of its evaluation results."""
    for results in sorted(run.rglob("results.json")):
        commit = json.loads(results.read_text()).get("provenance", {}).get("git", {}).get("commit")
        if commit:
            return commit
    return None


def collect(run: Path) -> list[dict]:
    """One row per finished stage (shared stage 0 included), in execution order (by manifest time)."""
    rows = []
    found = [m for m in stage0_manifests(run) if m.exists()] + list(run.rglob("manifest.json"))
    for m in sorted(found, key=lambda p: p.stat().st_mtime):
        if m.parent.name == "dataset":
            continue
        data = json.loads(m.read_text())
        if "stage" in data:
            rows.append({"stage": data["stage"], "seconds": data["seconds"], "peak_rss_mib": data.get("peak_rss_mib")})
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recipe", default="ipr-webshop")
    ap.add_argument("--preset", default="tiny")
    ap.add_argument("--run", default=None, help="read an existing run folder instead of running")
    ap.add_argument("--output", default=None)
    args = ap.parse_args()
    start = time.time()
    if args.run:
        run = Path(args.run)
    else:
        runs = Path(tempfile.mkdtemp(prefix="bench-reproduce-"))
        env = {**os.environ, "HARNESS_REGISTRY": str(runs / "registry")}
        subprocess.run([sys.executable, "-m", "harness.cli", "reproduce", args.recipe, "--preset", args.preset,
                        "--runs-dir", str(runs)], check=True, env=env)  # fmt: skip
        (run,) = (runs / args.recipe).iterdir()
    rows = collect(run)
    total = sum(r["seconds"] for r in rows)
    print(f"{'stage':<22} {'seconds':>9} {'peak RSS MiB':>13}")
    for r in rows:
        print(f"{r['stage']:<22} {r['seconds']:>9.1f} {r['peak_rss_mib'] or 0:>13.0f}")
    print(f"{'total':<22} {total:>9.1f}")
    # An existing run is described by its own provenance; the load now says nothing about its timings.
    commit = run_commit(run) if args.run else subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, check=False).stdout.strip()
    machine = {"cpus": os.cpu_count(), "platform": platform.platform()}
    if not args.run:
        machine["load_average_after"] = os.getloadavg()
    out = Path(args.output or f"benchmarks/results/reproduce_{args.recipe}_{args.preset}.json")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({
        "recipe": args.recipe, "preset": args.preset, "run": str(run), "stages": rows, "total_seconds": round(total, 1),
        "machine": machine,
        "git_commit": commit, "benchmark_wall_s": round(time.time() - start, 1),
    }, indent=2) + "\n")  # fmt: skip
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
