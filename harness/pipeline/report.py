"""The run report: a markdown summary with plots (rewards per iteration, step rewards, pair counts)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.pipeline.runner import Run, read_jsonl


def _metric(m: dict[str, Any], name: str = "avg_reward") -> str:
    x = m["metrics"][name]
    return f"{x['value']:.3f} [{x['ci_low']:.3f}, {x['ci_high']:.3f}] (n={x['n']})"


def _plots(run: Run, d: Path, iters: list[int]) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # no display on CI or servers
    import matplotlib.pyplot as plt

    names = []
    sft_v = run.manifest("eval_sft_valid")["metrics"]["avg_reward"]
    vals = [sft_v] + [run.manifest(f"iter{i}/eval_valid")["metrics"]["avg_reward"] for i in iters]
    xs = list(range(len(vals)))
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.errorbar(xs, [v["value"] for v in vals], yerr=[[v["value"] - v["ci_low"] for v in vals], [v["ci_high"] - v["value"] for v in vals]], marker="o", capsize=3)
    ax.set_xticks(xs, ["SFT"] + [f"IPR {i}" for i in iters])
    ax.set_ylabel("validation avg reward")
    ax.set_title(f"{run.recipe.name}: reward per iteration (95% CI)")
    fig.tight_layout()
    fig.savefig(d / "reward_per_iteration.png", dpi=120)
    names.append("reward_per_iteration.png")
    plt.close(fig)

    fig, axes = plt.subplots(1, len(iters), figsize=(3.2 * len(iters), 2.8), squeeze=False)
    for ax, i in zip(axes[0], iters):
        rows = read_jsonl(run.root / f"iter{i}" / "estimate" / "step_rewards.jsonl")
        expert = [r["value"] for r in rows if r["trajectory_id"] in _expert_ids(run)]
        agent = [r["value"] for r in rows if r["trajectory_id"] not in _expert_ids(run)]
        ax.hist([expert, agent], bins=10, range=(0, 1), label=["expert actions", "agent actions"])
        ax.set_title(f"iteration {i}: step rewards r_s")
        ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(d / "step_reward_distributions.png", dpi=120)
    names.append("step_reward_distributions.png")
    plt.close(fig)

    kinds = ["outcome_expert_wins", "outcome_agent_wins", "step_expert_wins", "step_agent_wins"]
    fig, ax = plt.subplots(figsize=(5, 3.2))
    bottom = [0] * len(iters)
    for k in kinds:
        counts = [run.manifest(f"iter{i}/pairs")["stats"][k] for i in iters]
        ax.bar([str(i) for i in iters], counts, bottom=bottom, label=k.replace("_", " "))
        bottom = [b + c for b, c in zip(bottom, counts)]
    ax.set_xlabel("iteration")
    ax.set_ylabel("pairs")
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(d / "pair_counts.png", dpi=120)
    names.append("pair_counts.png")
    plt.close(fig)
    return names


_EXPERT_IDS: dict[str, set[str]] = {}


def _expert_ids(run: Run) -> set[str]:
    key = str(run.root)
    if key not in _EXPERT_IDS:
        _EXPERT_IDS[key] = {r["id"] for r in read_jsonl(run.root / "expert" / "trajectories.jsonl")}
    return _EXPERT_IDS[key]


def write_report(run: Run, d: Path) -> dict[str, Any]:
    """Write ``report.md`` and its plots into ``d``; return the headline numbers."""
    r = run.recipe
    iters = list(range(1, r.iterations + 1))
    best = run.manifest("select")
    sft_test, ipr_test = run.manifest("eval_sft_test"), run.manifest("eval_best_test")
    lines = [
        f"# {r.name} ({r.preset or 'base'} preset), run {run.run_id}",
        "",
        f"Config hash `{run.config_hash}`, seed {r.seed}, environment `{r.env.id}` "
        f"(version in each results.json), {r.iterations} iterations.",
        "",
        "## Test results",
        "",
        "| method | test avg reward [95% CI] | success rate |",
        "|---|---|---|",
        f"| SFT | {_metric(sft_test)} | {sft_test['metrics']['success_rate']['value']:.3f} |",
        f"| IPR (iteration {best['iteration']}, chosen on validation) | {_metric(ipr_test)} | {ipr_test['metrics']['success_rate']['value']:.3f} |",
        "",
        f"The iteration was chosen by validation average reward; the test split was evaluated only for SFT and the chosen iteration.",
        "",
        "## Per iteration",
        "",
        "| iteration | explored episodes | step rewards estimated | pairs (outcome / step) | validation avg reward |",
        "|---|---|---|---|---|",
        f"| SFT | - | - | - | {_metric(run.manifest('eval_sft_valid'))} |",
    ]
    for i in iters:
        ex, es, pa = (run.manifest(f"iter{i}/{s}") for s in ("explore", "estimate", "pairs"))
        st = pa["stats"]
        lines.append(
            f"| {i} | {ex['episodes']} | {es['n']} (+{es['reused']} reused) | "
            f"{st['outcome_expert_wins'] + st['outcome_agent_wins']} / {st['step_expert_wins'] + st['step_agent_wins']} | "
            f"{_metric(run.manifest(f'iter{i}/eval_valid'))} |"
        )
    plots = _plots(run, d, iters)
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    (d / "report.md").write_text("\n".join(lines) + "\n")
    return {
        "report": str(d / "report.md"),
        "best_iteration": best["iteration"],
        "sft_test": sft_test["metrics"]["avg_reward"],
        "ipr_test": ipr_test["metrics"]["avg_reward"],
    }
