"""Benchmark the WebShop text environment on generated catalogs of 1k, 100k and 1M products.

For each catalog size, in fresh processes (so that peak memory is per size and per stage):

- generation: ``write_catalog`` time, file sizes, peak RSS of the generating process;
- catalog load (``load_catalog``), product-file fingerprint, index build on an empty cache and
  index open from the cache (``ProductSearch``), then ``load_world`` with that cache;
- expert episodes through the real environment (``run_episodes`` + the ``expert`` policy, searches
  included): env steps/s = ``env.step`` calls / wall time of the whole rollout; also episodes/s,
  the time inside ``env.step`` alone, the expert policy's own time, and search latency;
- peak RSS of the environment process (whole process and per stage).

Usage::

    python benchmarks/webshop_env.py                          # 1k, 100k and 1M (1M: a few minutes)
    python benchmarks/webshop_env.py --sizes 1k,100k --episodes 200 --repeats 1

Results go to ``benchmarks/results/webshop_env.json`` (``--output``) with the machine, package
versions and git commit. Timings are wall-clock and CPU seconds; on a shared machine, compare CPU
seconds and look at the recorded load average. Nothing here is asserted: the acceptance targets
(>= 1,000 expert env steps/s at 100k products on 2 cores; a 1M-product index built in under two
minutes) are reported as met or not. Catalogs and caches live in a scratch folder that is removed
afterwards (``--keep`` keeps it); ``HARNESS_CACHE`` is pointed there, never at ``~/.cache``.
"""

from __future__ import annotations

import argparse
import datetime
import gc
import json
import os
import platform
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import metadata
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "benchmarks" / "results" / "webshop_env.json"
SCHEMA = "harness.benchmarks.webshop_env/v1"
TARGET_STEPS_PER_S = 1000.0  # expert env steps/s at 100k products (the target)
TARGET_INDEX_BUILD_S = 120.0  # 1M-product index build (the target)
_SUFFIXES = {"k": 1_000, "m": 1_000_000}


def parse_size(text: str) -> int:
    """``"1000"``, ``"100k"`` or ``"1M"`` -> number of products."""
    m = re.fullmatch(r"\s*(\d+)\s*([kKmM]?)\s*", text)
    if m is None:
        raise argparse.ArgumentTypeError(f"size '{text}' is not a number like 1000, 100k or 1M")
    return int(m.group(1)) * _SUFFIXES.get(m.group(2).lower(), 1)


def _size_label(n: int) -> str:
    for suffix, unit in (("M", 1_000_000), ("k", 1_000)):
        if n >= unit and n % unit == 0:
            return f"{n // unit}{suffix}"
    return str(n)


# --- measuring inside a stage process -------------------------------------------------------------


def _peak_rss_mib() -> float | None:
    """Peak resident set size of this process since start or the last reset (Linux), MiB."""
    try:
        m = re.search(r"VmHWM:\s+(\d+) kB", Path("/proc/self/status").read_text())
    except OSError:
        return None
    return int(m.group(1)) / 1024 if m else None


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def _reset_peak_rss() -> None:
    """Restart the peak-RSS counter at the current RSS, so the next stage gets its own peak."""
    try:
        Path("/proc/self/clear_refs").write_text("5")
    except OSError:
        pass  # not Linux, or not allowed: stage peaks then include earlier stages


@contextmanager
def _stage(out: dict[str, Any], name: str) -> Iterator[None]:
    """Record ``name``'s wall and CPU seconds and peak RSS into ``out``."""
    gc.collect()
    _reset_peak_rss()
    wall, cpu = time.perf_counter(), time.process_time()
    yield
    out[f"{name}_s"] = round(time.perf_counter() - wall, 4)
    out[f"{name}_cpu_s"] = round(time.process_time() - cpu, 4)
    out[f"{name}_peak_rss_mib"] = _round(_peak_rss_mib())


def _stage_generate(size: int, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    from harness.envs.webshop.generator import write_catalog

    out: dict[str, Any] = {}
    with _stage(out, "generate"):
        write_catalog(folder, n_products=size, n_goals=args.goals, seed=args.seed)
    out["files_mib"] = {f.name: round(f.stat().st_size / 2**20, 2) for f in sorted(folder.glob("*.json"))}
    out["instructions"] = json.loads((folder / "catalog_manifest.json").read_text())["instructions"]
    return out


class _Clock:
    """Accumulated seconds and call count of one instrumented function."""

    def __init__(self) -> None:
        self.calls = 0
        self.seconds = 0.0
        self.samples: list[float] = []

    def wrap(self, fn: Any, keep: bool = False) -> Any:
        def timed(*a: Any, **kw: Any) -> Any:
            t = time.perf_counter()
            try:
                return fn(*a, **kw)
            finally:
                dt = time.perf_counter() - t
                self.calls += 1
                self.seconds += dt
                if keep:
                    self.samples.append(dt)

        return timed


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _expert_run(world: Any, task_ids: list[str]) -> dict[str, Any]:
    """One rollout of the expert over ``task_ids``, with env.step, search and policy timed."""
    from harness.envs.webshop.env import WebShopEnv
    from harness.policies import make_policy
    from harness.rollout import run_episodes

    step_clock, search_clock, policy_clock = _Clock(), _Clock(), _Clock()
    original_search = world.search.search
    world.search.search = search_clock.wrap(original_search, keep=True)  # this process only
    expert = make_policy("expert")
    expert.act = policy_clock.wrap(expert.act)

    def make_env() -> WebShopEnv:
        env = WebShopEnv(world)
        env.step = step_clock.wrap(env.step)
        return env

    try:
        wall, cpu = time.perf_counter(), time.process_time()
        trajectories = run_episodes(make_env, task_ids, expert)
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    finally:
        world.search.search = original_search
    rewards = [t.final_reward for t in trajectories]
    searches = search_clock.samples
    return {
        "episodes": len(trajectories),
        "env_steps": step_clock.calls,
        "wall_s": round(wall, 4),
        "cpu_s": round(cpu, 4),
        "env_steps_per_s": round(step_clock.calls / wall, 1),
        # The rollout is single-threaded: steps per CPU second is what an idle core would give,
        # and it does not drop when other processes share the machine.
        "env_steps_per_cpu_s": round(step_clock.calls / cpu, 1),
        "episodes_per_s": round(len(trajectories) / wall, 1),
        "env_step_s": round(step_clock.seconds, 4),
        "env_only_steps_per_s": round(step_clock.calls / step_clock.seconds, 1),
        "expert_policy_s": round(policy_clock.seconds, 4),
        "rollout_other_s": round(wall - step_clock.seconds - policy_clock.seconds, 4),
        "searches": len(searches),
        "search_mean_ms": round(1000 * statistics.fmean(searches), 3) if searches else None,
        "search_p50_ms": round(1000 * _percentile(searches, 0.5), 3) if searches else None,
        "search_p95_ms": round(1000 * _percentile(searches, 0.95), 3) if searches else None,
        "search_share_of_wall": round(search_clock.seconds / wall, 3),
        "mean_steps_per_episode": round(step_clock.calls / len(trajectories), 2),
        "mean_reward": round(statistics.fmean(rewards), 4),
        "success_rate": round(sum(r >= 1.0 for r in rewards) / len(rewards), 4),
    }


def _stage_env(size: int, args: argparse.Namespace, folder: Path, cache: Path) -> dict[str, Any]:
    from harness.envs.webshop.catalog import load_catalog
    from harness.envs.webshop.env import load_world
    from harness.envs.webshop.search import ProductSearch, catalog_fingerprint

    out: dict[str, Any] = {}
    with _stage(out, "catalog_load"):
        catalog = load_catalog(folder)
    out["products_loaded"] = len(catalog.products)
    with _stage(out, "fingerprint"):
        catalog_fingerprint(catalog)
    shutil.rmtree(cache / "webshop-index", ignore_errors=True)
    with _stage(out, "index_build"):  # fingerprint + build on an empty cache + open
        built = ProductSearch(catalog, cache_dir=cache)
    if not built.built:
        raise RuntimeError(f"{cache}: the index cache was not empty, so nothing was built")
    out["index_mib"] = round(sum(f.stat().st_size for f in built.path.iterdir()) / 2**20, 2)
    with _stage(out, "index_open"):  # fingerprint + open the cached index
        opened = ProductSearch(catalog, cache_dir=cache)
    if opened.built:
        raise RuntimeError(f"{cache}: the index was rebuilt instead of opened from the cache")
    del catalog, built, opened
    os.environ["HARNESS_CACHE"] = str(cache)  # load_world's index: the one just built
    with _stage(out, "world_load"):  # catalog + prices + goals + cached index
        world = load_world(str(folder), seed=args.seed)
    out["goals"] = len(world.goals)
    out["env_version"] = world.version
    task_ids = [str(i) for i in range(min(args.episodes, len(world.goals)))]
    gc.collect()
    _reset_peak_rss()
    runs = [_expert_run(world, task_ids) for _ in range(args.repeats)]
    out["episodes_peak_rss_mib"] = _round(_peak_rss_mib())
    out["runs"] = runs
    out["expert"] = sorted(runs, key=lambda r: r["env_steps_per_s"])[len(runs) // 2]  # the median run
    return out


def _run_stage(argv: list[str]) -> None:
    """Entry point of a stage subprocess: run one stage and write its result as JSON."""
    p = argparse.ArgumentParser()
    p.add_argument("stage", choices=["generate", "env"])
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--folder", type=Path, required=True)
    p.add_argument("--cache", type=Path, required=True)
    p.add_argument("--result", type=Path, required=True)
    p.add_argument("--goals", type=int, required=True)
    p.add_argument("--seed", type=int, required=True)
    p.add_argument("--episodes", type=int, required=True)
    p.add_argument("--repeats", type=int, required=True)
    a = p.parse_args(argv)
    if a.stage == "generate":
        result = _stage_generate(a.size, a, a.folder)
    else:
        result = _stage_env(a.size, a, a.folder, a.cache)
    a.result.write_text(json.dumps(result))


# --- the parent: one subprocess per stage and size --------------------------------------------------


def _spawn(stage: str, size: int, args: argparse.Namespace, folder: Path, cache: Path) -> dict[str, Any]:
    """Run a stage in a fresh interpreter; return its result plus its peak RSS and CPU time."""
    result_path = folder.parent / f"{stage}-{size}.json"
    cmd = [
        sys.executable, __file__, "--stage", stage, "--size", str(size), "--folder", str(folder),
        "--cache", str(cache), "--result", str(result_path), "--goals", str(args.goals),
        "--seed", str(args.seed), "--episodes", str(args.episodes), "--repeats", str(args.repeats),
    ]  # fmt: skip
    env = dict(os.environ, HARNESS_CACHE=str(cache))
    wall = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env)
    # wait4 gives this one child's own peak RSS and CPU time (RUSAGE_CHILDREN would mix sizes).
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{stage} stage for {size} products failed (exit {proc.returncode}); see its output above")
    result = json.loads(result_path.read_text())
    result["process"] = {
        "wall_s": round(time.perf_counter() - wall, 2),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: kilobytes
    }
    return result


def _machine() -> dict[str, Any]:
    cpu_model = None
    try:
        m = re.search(r"model name\s*:\s*(.+)", Path("/proc/cpuinfo").read_text())
        cpu_model = m.group(1).strip() if m else None
    except OSError:
        pass
    try:
        mem = int(re.search(r"MemTotal:\s+(\d+) kB", Path("/proc/meminfo").read_text()).group(1)) / 2**20
    except (OSError, AttributeError):
        mem = None
    return {
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu_model": cpu_model,
        "memory_gib": round(mem, 1) if mem else None,
        "platform": platform.platform(),
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
    }


def _packages() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in ("harness", "tantivy", "rapidfuzz", "spacy"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def _git() -> dict[str, Any]:
    def git(*a: str) -> str:
        return subprocess.run(["git", *a], cwd=REPO, capture_output=True, text=True, check=True).stdout

    try:
        status = git("status", "--porcelain", "--untracked-files=no").splitlines()
        return {"commit": git("rev-parse", "HEAD").strip(), "dirty": bool(status),
                "modified": [line[3:] for line in status]}  # fmt: skip
    except (OSError, subprocess.CalledProcessError):
        return {"commit": None, "dirty": None, "modified": []}


def _targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    by_size = {r["products"]: r for r in results}
    out = []
    if 100_000 in by_size:
        value = by_size[100_000]["expert"]["env_steps_per_s"]
        out.append({"target": "expert env steps/s at 100k products", "threshold": f">= {TARGET_STEPS_PER_S:.0f}",
                    "value": value, "met": value >= TARGET_STEPS_PER_S})  # fmt: skip
    if 1_000_000 in by_size:
        value = by_size[1_000_000]["index_build_s"]
        out.append({"target": "1M-product index build seconds", "threshold": f"< {TARGET_INDEX_BUILD_S:.0f}",
                    "value": value, "met": value < TARGET_INDEX_BUILD_S})  # fmt: skip
    return out


def _table(results: list[dict[str, Any]]) -> str:
    from tabulate import tabulate

    rows = []
    for r in results:
        e = r["expert"]
        rows.append([
            _size_label(r["products"]), r["generate_s"], r["generation_peak_rss_mib"], r["catalog_load_s"],
            r["index_build_s"], r["index_open_s"], r["world_load_s"], e["env_steps_per_s"], e["env_steps_per_cpu_s"],
            e["env_only_steps_per_s"],
            e["episodes_per_s"], e["search_mean_ms"], e["search_p95_ms"], e["mean_reward"], r["peak_rss_mib"],
        ])  # fmt: skip
    headers = [
        "products", "generate s", "gen peak MiB", "load s", "index build s", "index open s", "world load s",
        "steps/s", "steps/CPU-s", "env-only steps/s", "episodes/s", "search ms", "search p95 ms", "reward", "env peak MiB",
    ]  # fmt: skip
    formats = ["", ".1f", ".0f", ".2f", ".2f", ".3f", ".2f", ".0f", ".0f", ".0f", ".0f", ".2f", ".2f", ".3f", ".0f"]
    return tabulate(rows, headers=headers, floatfmt=formats)


def main(argv: list[str] | None = None) -> None:
    """Command-line entry point."""
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--stage"]:
        _run_stage(argv[1:])
        return
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", default="1k,100k,1M", help="comma-separated catalog sizes (default: 1k,100k,1M)")
    p.add_argument("--goals", type=int, default=3000, help="instructions generated per catalog (default 3000)")
    p.add_argument("--episodes", type=int, default=500, help="expert episodes per run (default 500)")
    p.add_argument("--repeats", type=int, default=3, help="expert runs per size; the median is reported (default 3)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workdir", type=Path, default=None, help="scratch folder (default: a new temporary folder)")
    p.add_argument("--keep", action="store_true", help="keep the generated catalogs and indexes")
    p.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    args = p.parse_args(argv)
    sizes = [parse_size(s) for s in args.sizes.split(",") if s.strip()]
    if any(n < 4 for n in sizes):
        p.error("each size must be at least 4 products (one product family)")

    workdir = Path(tempfile.mkdtemp(prefix="webshop-bench-", dir=args.workdir))
    started = datetime.datetime.now(datetime.timezone.utc)
    load_before = os.getloadavg()
    results = []
    try:
        for size in sizes:
            folder, cache = workdir / f"catalog-{size}", workdir / f"cache-{size}"
            print(f"[{_size_label(size)}] generating {size} products ...", flush=True)
            gen = _spawn("generate", size, args, folder, cache)
            print(f"[{_size_label(size)}] generated in {gen['generate_s']:.1f}s; loading, indexing, playing ...", flush=True)
            env = _spawn("env", size, args, folder, cache)
            env["peak_rss_mib"] = env["process"]["peak_rss_mib"]
            results.append({
                "products": size,
                **{k: v for k, v in gen.items() if k != "process"},
                "generation_peak_rss_mib": gen["process"]["peak_rss_mib"],
                "generation_process": gen["process"],
                **env,
            })  # fmt: skip
            e = env["expert"]
            print(f"[{_size_label(size)}] load {env['catalog_load_s']:.1f}s, index build {env['index_build_s']:.1f}s, "
                  f"{e['env_steps_per_s']:.0f} steps/s, peak {env['peak_rss_mib']:.0f} MiB", flush=True)  # fmt: skip
            if not args.keep:
                shutil.rmtree(folder, ignore_errors=True)
                shutil.rmtree(cache, ignore_errors=True)
    finally:
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    report = {
        "schema": SCHEMA,
        "created": started.isoformat(timespec="seconds"),
        "duration_s": round((datetime.datetime.now(datetime.timezone.utc) - started).total_seconds(), 1),
        "arguments": {"sizes": sizes, "goals": args.goals, "episodes": args.episodes, "repeats": args.repeats,
                      "seed": args.seed, "workdir": str(workdir) if args.keep else None},  # fmt: skip
        "machine": {**_machine(), "load_average_before": [round(x, 2) for x in load_before],
                    "load_average_after": [round(x, 2) for x in os.getloadavg()]},  # fmt: skip
        "packages": _packages(),
        "git": _git(),
        "targets": _targets(results),
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(report, indent=2) + "\n")
    print()
    print(_table(results))
    for t in report["targets"]:
        print(f"target: {t['target']} {t['threshold']}: {t['value']} -> {'met' if t['met'] else 'MISSED'}")
    print(f"wrote {args.output}")


if __name__ == "__main__":
    main()
