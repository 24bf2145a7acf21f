"""The run report: a markdown summary with plots (rewards per iteration, step rewards, pair counts)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.execution.checkpoints import read_jsonl
from harness.pipeline.runner import Run

if TYPE_CHECKING:
    from harness.methods.base import Method


def _metric(m: dict[str, Any], name: str = "avg_reward") -> str:
    x = m["metrics"][name]
    return f"{x['value']:.3f} [{x['ci_low']:.3f}, {x['ci_high']:.3f}] (n={x['n']})"


def _plots(run: Run, d: Path, iters: list[int], label: str) -> list[str]:
    import matplotlib

    matplotlib.use("Agg")  # no display on CI or servers
    import matplotlib.pyplot as plt

    names = []
    sft_v = run.manifest("eval_sft_valid")["metrics"]["avg_reward"]
    vals = [sft_v] + [run.manifest(f"iter{i}/eval_valid")["metrics"]["avg_reward"] for i in iters]
    xs = list(range(len(vals)))
    fig, ax = plt.subplots(figsize=(5, 3.2))
    ax.errorbar(xs, [v["value"] for v in vals], yerr=[[v["value"] - v["ci_low"] for v in vals], [v["ci_high"] - v["value"] for v in vals]], marker="o", capsize=3)
    ax.set_xticks(xs, ["SFT"] + [f"{label} {i}" for i in iters])
    ax.set_ylabel("validation avg reward")
    ax.set_title(f"{run.recipe.name}: reward per iteration (95% CI)")
    fig.tight_layout()
    fig.savefig(d / "reward_per_iteration.png", dpi=120)
    names.append("reward_per_iteration.png")
    plt.close(fig)

    if iters and run.manifest(f"iter{iters[0]}/estimate") is not None:  # IPR's MC step rewards
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
    pair_stats = [(run.manifest(f"iter{i}/pairs") or {}).get("stats", {}) for i in iters]
    if iters and all(k in st for st in pair_stats for k in kinds):  # IPR / ETO pair kinds
        fig, ax = plt.subplots(figsize=(5, 3.2))
        bottom = [0] * len(iters)
        for k in kinds:
            counts = [st[k] for st in pair_stats]
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


def _stage_summary(stage: str, m: dict[str, Any]) -> str:
    """One cell of the per-iteration table."""
    if stage == "explore":
        return f"{m['episodes']} episodes (agent reward from the start {m['agent_full_episode_reward']:.3f})"
    if m is None:  # a stage of iteration 1 only (IPR's learned step reward model)
        return "-"
    if stage == "estimate" and m.get("scorer") == "reward_model":
        return f"{m['n']} step rewards by the reward model ({m['rollouts_avoided']} MC rollouts avoided)"
    if stage == "estimate":
        return f"{m['n']} step rewards (+{m['reused']} reused)"
    if stage == "reward_model":
        a = m["agreement"]
        return f"{m['train_actions']} actions trained; held-out r {_num(a['pearson'])}, pair decisions agree {_num(a['pair_decision_agreement'])}"
    if stage == "pairs":
        st = m["stats"]
        if "outcome_expert_wins" in st:
            return f"{m['n']} pairs ({st['outcome_expert_wins'] + st['outcome_agent_wins']} outcome / {st['step_expert_wins'] + st['step_agent_wins']} step)"
        return f"{m['n']} pairs ({st.get('equal_dropped', 0)} equal samples dropped)"
    if stage == "train":
        return f"{m['pairs']} pairs trained" if m.get("trained") else "no pairs: policy unchanged"
    if stage == "inspect":
        return f"{m['samples']} sampled actions"
    if stage == "sft":
        return f"{m['conversations']} conversations ({m['kept_agent_episodes']} agent)"
    if stage == "discriminator":
        return f"{m['examples']} examples, train acc {m['train_accuracy']:.3f}"
    if stage == "policy":
        return f"{m['states']} states, D-reward {m['reward_first']:.2f} -> {m['reward_last']:.2f}"
    return "done"


def _num(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.3f}"


def reward_model_section(run: Run, iters: list[int]) -> tuple[list[str], dict[str, Any]]:
    """The learned step reward model's part of the report (IPR §5.5): its data, its held-out agreement
    with Monte-Carlo and the cost it saved; empty when the run used Monte-Carlo throughout."""
    m = run.manifest("iter1/reward_model") if iters else None
    if m is None:
        return [], {}
    a = m["agreement"]
    est = {i: run.manifest(f"iter{i}/estimate") for i in iters}
    learned = [i for i in iters if est[i].get("scorer") == "reward_model"]
    played = est[1].get("rollouts")
    avoided = sum(est[i]["rollouts_avoided"] for i in learned)
    mc_s = est[1]["seconds"]
    rm_s = [est[i]["seconds"] for i in learned]
    cost = {"mc_rollouts_iteration1": played, "rollouts_avoided": avoided, "forward_passes": sum(est[i]["forward_passes"] for i in learned),
            "estimate_seconds": {i: est[i]["seconds"] for i in iters}, "reward_model_training_seconds": m["seconds"]}  # fmt: skip
    per_target = mc_s / max(est[1]["n"] - est[1].get("reused", 0), 1)
    sources = ", ".join(f"{s['config']} `{s['repo']}@{s['commit'][:12]}` ({s['rows']} rows)" for s in m["sources"].values())
    lines = [
        "", "## Learned step reward model (IPR §5.5)", "",
        f"Trained on iteration 1's Monte-Carlo labels, downloaded by commit: {sources}. {m['train_actions']} non-terminal "
        f"actions of {m['train_tasks']} tasks trained on, {len(m['held_out_tasks'])} tasks held out; model `{m['path']}` "
        f"(card: README.md beside it). It scored iterations {', '.join(map(str, learned)) or 'none'}.", "",
        f"Held-out agreement with Monte-Carlo ({a['actions']} actions, {a['pair_decisions']} step-pair decisions):", "",
        "| figure | value |", "|---|---|",
        f"| Pearson r (RM vs MC) | {_num(a['pearson'])} |",
        f"| Spearman rho | {_num(a['spearman'])} |",
        f"| mean absolute error | {_num(a['mae'])} |",
        f"| IPR step-pair decision agrees (tau = {a['tau']}) | {_num(a['pair_decision_agreement'])} |",
        f"| step-reward comparison agrees (sign beyond tau) | {_num(a['step_comparison_agreement'])} |",
        f"| decisions MC: expert / agent / none | {' / '.join(str(a['pair_decisions_mc'][d]) for d in ('expert', 'agent', 'none'))} |",
        f"| decisions RM: expert / agent / none | {' / '.join(str(a['pair_decisions_rm'][d]) for d in ('expert', 'agent', 'none'))} |",
        "", "Cost:", "", "| figure | value |", "|---|---|",
        f"| Monte-Carlo rollouts played (iteration 1) | {played if played is not None else 'n/a'} |",
        f"| Monte-Carlo rollouts avoided (iterations >= 2, as planned for their targets) | {avoided} |",
        f"| estimate wall time, iteration 1 (MC) | {mc_s:.1f} s ({per_target:.2f} s per newly scored action) |",
        f"| estimate wall time, RM iterations | {', '.join(f'{x:.1f} s' for x in rm_s) or 'n/a'} |",
        f"| reward model training (iter1/reward_model) | {m['seconds']:.1f} s |",
    ]  # fmt: skip
    return lines, {"agreement": a, "cost": cost}


_EXPERT_IDS: dict[str, set[str]] = {}


def _expert_ids(run: Run) -> set[str]:
    key = str(run.root)
    if key not in _EXPERT_IDS:
        _EXPERT_IDS[key] = {r["id"] for r in read_jsonl(run.folder("expert") / "trajectories.jsonl")}
    return _EXPERT_IDS[key]


def write_report(run: Run, d: Path, method: Method) -> dict[str, Any]:
    """Write ``report.md`` and its plots into ``d`` for a run of ``method``; return the headline numbers."""
    r = run.recipe
    iters = list(range(1, r.iterations + 1))
    sft_test = run.manifest("eval_sft_test")
    lines = [
        f"# {r.name} ({r.preset or 'base'} preset), run {run.run_id}",
        "",
        f"Method {method.label}. Config hash `{run.config_hash}`, seed {r.seed}, environment `{r.env.id}` "
        f"(version in each results.json), {r.iterations} iterations.",
        "",
        "## Test results",
        "",
        "| method | test avg reward [95% CI] | success rate |",
        "|---|---|---|",
        f"| SFT | {_metric(sft_test)} | {sft_test['metrics']['success_rate']['value']:.3f} |",
    ]
    out: dict[str, Any] = {"report": str(d / "report.md"), "method": r.method, "label": method.label,
                           "sft_test": sft_test["metrics"]["avg_reward"],
                           "test_results": {"SFT": str(run.folder("eval_sft_test").resolve())}}  # fmt: skip
    if iters:
        best, final = run.manifest("select"), run.manifest("eval_best_test")
        lines += [
            f"| {method.label} (iteration {best['iteration']}, chosen on validation) | {_metric(final)} | {final['metrics']['success_rate']['value']:.3f} |",
            "",
            "The iteration was chosen by validation average reward; the test split was evaluated only for SFT and the chosen iteration.",
            "",
            "## Per iteration",
            "",
            "| iteration | " + " | ".join(method.stages(r)) + " | validation avg reward |",
            "|---|" + "---|" * len(method.stages(r)) + "---|",
            "| SFT | " + " | ".join("-" for _ in method.stages(r)) + f" | {_metric(run.manifest('eval_sft_valid'))} |",
        ]
        for i in iters:
            cells = [_stage_summary(s, run.manifest(f"iter{i}/{s}")) for s in method.stages(r)]  # None: not in this iteration
            lines.append(f"| {i} | " + " | ".join(cells) + f" | {_metric(run.manifest(f'iter{i}/eval_valid'))} |")
        out.update(best_iteration=best["iteration"], method_test=final["metrics"]["avg_reward"])
        rm_lines, rm_out = reward_model_section(run, iters)
        lines += rm_lines
        if rm_out:
            out["reward_model"] = rm_out
        out["test_results"][method.label] = str(run.folder("eval_best_test").resolve())
    plots = _plots(run, d, iters, method.label)
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    (d / "report.md").write_text("\n".join(lines) + "\n")
    return out
