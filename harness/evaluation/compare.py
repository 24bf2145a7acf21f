"""``harness compare RUN_DIR...``: every method of several recipe runs on the same test tasks, with intervals.

Each run's report manifest names its test results (SFT and the method's chosen iteration). Results
are comparable only when they share the environment version and the exact test task ids; anything
else is refused with the difference named. Besides each method's mean and 95% bootstrap interval,
the table gives the paired difference to SFT: mean over tasks of (r_method - r_SFT) with a
bootstrap interval over tasks (pairing removes the between-task variance). Each method is paired
with the SFT model of its own run, so runs of several seeds compare each seed with its own SFT.

When a method appears with more than one seed, a second table summarises it across seeds: the mean
and the sample standard deviation over seeds of its average reward and of its paired difference to
SFT, in how many seeds that difference is positive, and a pooled paired interval: per task i the
seed-averaged difference d_i = mean_s (r_method,s,i - r_SFT,s,i), then the mean of d_i with a bootstrap
interval over tasks. Every seed is tested on the same tasks, so resampling whole tasks keeps the
correlation of a task's difficulty across seeds; that interval covers task sampling for these seeds
only. The across-seeds interval (Student t over the per-seed paired differences, n-1 degrees of
freedom) covers the training variance between seeds instead; with few seeds it is the wider one.
Both are reported because they answer different questions.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class CompareError(ValueError):
    """Runs that cannot be compared; the message says why and what to do."""


@dataclass
class Row:
    label: str
    run: str
    results: dict[str, Any]
    seed: int | None = None
    sft: dict[str, Any] | None = None
    """The SFT results of the same run (its own seed's SFT model); None when the run has none."""


def _load_run(run_dir: Path) -> list[Row]:
    manifest = run_dir / "report" / "manifest.json"
    if not manifest.exists():
        raise CompareError(f"{run_dir}: no finished report (expected {manifest}); finish the run with `harness reproduce` first")
    report = json.loads(manifest.read_text())
    if "test_results" not in report:
        raise CompareError(f"{run_dir}: its report predates `harness compare`; re-run its report stage (delete {run_dir / 'report'})")
    resolved = run_dir / "recipe.resolved.json"
    seed = json.loads(resolved.read_text())["recipe"].get("seed") if resolved.exists() else None
    results = {label: json.loads((Path(folder) / "results.json").read_text()) for label, folder in report["test_results"].items()}
    return [Row(label, str(run_dir), r, seed, results.get("SFT")) for label, r in results.items()]


def load_rows(run_dirs: list[str | Path]) -> list[Row]:
    """One row per distinct result (an SFT model shared by several runs is listed once), checked comparable."""
    rows: list[Row] = []
    seen: set[str] = set()
    for d in run_dirs:
        for row in _load_run(Path(d)):
            key = json.dumps(row.results["per_task"], sort_keys=True) + row.label + row.results["policy"]
            if key not in seen:
                seen.add(key)
                rows.append(row)
    if not rows:
        raise CompareError("no runs given")
    first = rows[0].results
    for row in rows[1:]:
        r = row.results
        if r["env_version"] != first["env_version"]:
            raise CompareError(f"{row.run} ({row.label}) ran {r['env_version']}, {rows[0].run} ran {first['env_version']}: different environments")
        if sorted(r["per_task"]) != sorted(first["per_task"]):
            raise CompareError(
                f"{row.run} ({row.label}) was tested on {len(r['per_task'])} tasks, {rows[0].run} on {len(first['per_task'])} "
                "other ones: give the runs the same data.test_tasks and env settings"
            )
    return rows


def compare(run_dirs: list[str | Path]) -> dict[str, Any]:
    """The comparison table as data: per method its metrics and the paired difference to SFT."""
    from harness.evaluation.metrics import mean_with_ci

    rows = load_rows(run_dirs)
    first_sft = next((r.results for r in rows if r.label == "SFT"), None)
    tasks = sorted(rows[0].results["per_task"])
    table = []
    diffs_by_row: dict[int, list[float]] = {}
    for row in rows:
        m = row.results["metrics"]
        entry = {"method": row.label, "run": row.run, "seed": row.seed, "policy": row.results["policy"],
                 **{k: m[k] for k in ("avg_reward", "success_rate", "avg_steps") if k in m}}  # fmt: skip
        sft = row.sft if row.sft is not None else first_sft
        if sft is not None and row.label != "SFT":
            diffs = [row.results["per_task"][t] - sft["per_task"][t] for t in tasks]
            diffs_by_row[len(table)] = diffs
            d = mean_with_ci(diffs)
            entry["vs_sft"] = {"value": d.value, "ci_low": d.ci_low, "ci_high": d.ci_high, "n": d.n, "sft_policy": sft["policy"]}
        table.append(entry)
    return {"env_version": rows[0].results["env_version"], "tasks": len(tasks), "rows": table, "across_seeds": across_seeds(table, diffs_by_row)}


def across_seeds(table: list[dict[str, Any]], diffs_by_row: dict[int, list[float]] | None = None) -> list[dict[str, Any]]:
    """Per method run with several distinct seeds: mean and sample sd over seeds of avg reward and of
    the paired difference to SFT, the count of seeds where that difference is positive, the Student-t
    interval of that difference over seeds, and (given each row's per-task differences, by row index,
    all over the same sorted tasks) the pooled paired interval described in the module docstring.
    Rows of one method that do not differ by a known seed (e.g. two configs) are not summarised as seeds."""
    from statistics import mean, stdev

    from harness.evaluation.metrics import mean_with_ci, t_interval

    by_method: dict[str, list[int]] = {}
    for i, r in enumerate(table):
        by_method.setdefault(r["method"], []).append(i)
    out = []
    for method, idx in by_method.items():
        rs = [table[i] for i in idx]
        seeds = [r["seed"] for r in rs]
        if len(rs) < 2 or None in seeds or len(set(seeds)) < len(seeds):
            continue
        rewards = [r["avg_reward"]["value"] for r in rs]
        entry = {"method": method, "seeds": seeds, "avg_reward_mean": mean(rewards), "avg_reward_sd": stdev(rewards)}
        diffs = [r["vs_sft"]["value"] for r in rs if "vs_sft" in r]
        if len(diffs) >= 2:
            t = t_interval(diffs)
            entry |= {"vs_sft_mean": mean(diffs), "vs_sft_sd": stdev(diffs), "vs_sft_positive": sum(d > 0 for d in diffs),
                      "vs_sft_over_seeds": {"value": t.value, "ci_low": t.ci_low, "ci_high": t.ci_high, "n": t.n}}  # fmt: skip
        per_seed = [diffs_by_row[i] for i in idx if diffs_by_row and i in diffs_by_row]
        if len(per_seed) == len(rs) >= 2:
            pooled = mean_with_ci([mean(task) for task in zip(*per_seed)])
            entry["vs_sft_pooled"] = {"value": pooled.value, "ci_low": pooled.ci_low, "ci_high": pooled.ci_high, "n": pooled.n}
        out.append(entry)
    return out


def _cell(m: dict[str, Any]) -> str:
    return f"{m['value']:.3f} [{m['ci_low']:.3f}, {m['ci_high']:.3f}]"


def format_markdown(data: dict[str, Any]) -> str:
    """The comparison as a markdown table."""
    lines = [
        f"{data['tasks']} test tasks, environment {data['env_version']}; 95% bootstrap intervals over tasks.",
        "",
        "| method | avg reward | success rate | avg steps | vs SFT (paired) | run |",
        "|---|---|---|---|---|---|",
    ]
    for r in data["rows"]:
        vs = _cell(r["vs_sft"]) if "vs_sft" in r else "-"
        lines.append(f"| {r['method']} | {_cell(r['avg_reward'])} | {_cell(r['success_rate'])} | {r['avg_steps']['value']:.2f} | {vs} | {r['run']} |")
    if data.get("across_seeds"):
        lines += ["", "Across seeds (each seed paired with its own SFT). vs SFT: mean ± sample sd over seeds; "
                  "t interval: 95% Student t over the seeds' paired differences (training variance); pooled: the "
                  "seed-averaged per-task difference, 95% bootstrap interval over tasks (task sampling):", "",
                  "| method | seeds | avg reward | vs SFT (paired) | vs SFT, t interval over seeds | vs SFT, pooled over tasks | seeds above SFT |",
                  "|---|---|---|---|---|---|---|"]  # fmt: skip
        for a in data["across_seeds"]:
            vs = f"{a['vs_sft_mean']:+.3f} ± {a['vs_sft_sd']:.3f}" if "vs_sft_mean" in a else "-"
            above = f"{a['vs_sft_positive']} of {len(a['seeds'])}" if "vs_sft_mean" in a else "-"
            pooled = _cell(a["vs_sft_pooled"]) if "vs_sft_pooled" in a else "-"
            over_seeds = _cell(a["vs_sft_over_seeds"]) if "vs_sft_over_seeds" in a else "-"
            seeds = ", ".join(str(x) for x in a["seeds"])
            lines.append(f"| {a['method']} | {seeds} | {a['avg_reward_mean']:.3f} ± {a['avg_reward_sd']:.3f} | {vs} | {over_seeds} | {pooled} | {above} |")
    return "\n".join(lines)


def plot(data: dict[str, Any], path: str | Path) -> Path:
    """A bar chart of average reward per method with 95% intervals."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    rows = data["rows"]
    vals = [r["avg_reward"]["value"] for r in rows]
    err = [[v - r["avg_reward"]["ci_low"] for v, r in zip(vals, rows)], [r["avg_reward"]["ci_high"] - v for v, r in zip(vals, rows)]]
    fig, ax = plt.subplots(figsize=(1.3 * len(rows) + 2, 3.4))
    ax.bar(range(len(rows)), vals, yerr=err, capsize=4)
    several_seeds = len({r.get("seed") for r in rows}) > 1
    labels = [f"{r['method']}\nseed {r['seed']}" if several_seeds else r["method"] for r in rows]
    ax.set_xticks(range(len(rows)), labels, rotation=20, ha="right")
    ax.set_ylabel("test avg reward (95% CI)")
    ax.set_title(f"{data['tasks']} test tasks")
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=120)
    plt.close(fig)
    return out
