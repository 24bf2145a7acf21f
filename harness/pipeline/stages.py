"""The stages every method shares: the model, the expert data, SFT, exploration, the preference
update, evaluation, selection and the report. Each is a function of the run's
:class:`~harness.pipeline.context.Context` and its stage folder that returns the stage's outputs;
a method's own stages live with the method (:mod:`harness.methods`).
"""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

from harness.execution.checkpoints import read_jsonl, write_jsonl_atomic
from harness.pipeline.runner import reset_folder
from harness.rollout import EpisodeSpec
from harness.types import Trajectory

if TYPE_CHECKING:
    from harness.methods.base import Method
    from harness.pipeline.context import Context


def init_model(ctx: Context, d: Path) -> dict[str, Any]:
    """The starting model: the recipe's base model (imported first when it is a GGUF source), or a
    from-scratch preset."""
    from harness.model_import import is_gguf_source
    from harness.models import init_model as build, resolve_model

    m, r = ctx.recipe.model, ctx.recipe
    if m.base and not is_gguf_source(m.base):
        return {"path": resolve_model(m.base)}
    reset_folder(d / "model")  # a kill during init leaves a partial folder
    if m.base:
        from harness.model_import import import_model

        return {"path": str(import_model(m.base, d / "model")), "imported_from": m.base}
    checkpoint = d / "copy_pretraining.pt"  # a kill during copy pretraining resumes from here
    path = build(m.init_preset, r.env.id, d / "model", seed=r.seed, env_kwargs=r.env.kwargs, corpus_tasks=m.corpus_tasks,
                 copy_pretraining=m.copy_pretraining, checkpoint=checkpoint,
                 checkpoint_every_s=r.execution.checkpoint_every_s)  # fmt: skip
    checkpoint.unlink(missing_ok=True)
    return {"path": str(path)}


def expert_trajectories(ctx: Context, d: Path) -> dict[str, Any]:
    """The scripted expert on the train tasks, played through the execution seam (checkpointed chunks,
    on Ray workers when asked: ALFWorld's 3,000 train games load for 1-2 s each); goals it cannot
    solve are dropped and counted."""
    from harness.policies import Sampling

    ids = ctx.task_ids(ctx.recipe.data.train_split, ctx.recipe.data.train_tasks)
    rows = ctx.executor.rollouts(d / "episodes", [EpisodeSpec(tid, ctx.recipe.seed) for tid in ids], "expert", Sampling())
    trajs = [Trajectory.from_dict(r) for r in rows]
    kept = [t.to_dict() for t in trajs if t.success]
    write_jsonl_atomic(d / "trajectories.jsonl", kept)
    published = ctx.publish(d, "expert_trajectories", "train", kept)
    return {"n": len(kept), "dropped": [t.task_id for t in trajs if not t.success], "published": published}


def sft(ctx: Context, d: Path, model: str, trajectories: list[Trajectory] | None = None) -> dict[str, Any]:
    """SFT (assistant tokens only) on the conversations of ``trajectories`` (default: the experts),
    as a training job of the execution seam."""
    from harness.execution.jobs import TrainingJob

    trajs = ctx.load_experts() if trajectories is None else trajectories
    rows = [sft_row(t, ctx.icl_messages) for t in trajs]
    if not rows:
        raise ValueError("SFT needs at least one expert conversation: the expert stage kept none")
    settings = replace(ctx.recipe.sft, seed=ctx.recipe.seed)
    out = ctx.executor.train(TrainingJob("sft", model, str(d), settings, ctx.recipe.seed), rows)
    return {"path": out["path"], "conversations": len(rows), "resumed_from": out.get("resumed_from")}


def sft_row(trajectory: Trajectory, icl_messages: list[dict[str, str]]) -> dict[str, Any]:
    """One SFT row: the conversation the policy sees when it plays ``trajectory`` (in-context examples
    included), less the final observation; with examples, ``icl_turns`` = their ``[start, stop)``
    message indices. Those turns are context, not trained on: the loss covers the episode's own
    assistant turns only (the examples are the same in every row, and nothing the policy is asked to
    produce). At 0-shot the row is ``{"messages": ...}`` alone, as before the option existed."""
    from harness.prompting import HEADER_TURNS, build_messages

    t = trajectory
    messages = build_messages(t.env_id, t.initial_observation, t.steps, icl_messages=icl_messages)[:-1]
    if not icl_messages:
        return {"messages": messages}
    return {"messages": messages, "icl_turns": [HEADER_TURNS, HEADER_TURNS + len(icl_messages)]}


def explore_specs(experts: list[Trajectory], chosen: list[str], seed: int, all_prefixes: bool = True,
                  samples: int = 1) -> list[EpisodeSpec]:  # fmt: skip
    """The episodes of an exploration: on each chosen expert task, from every expert prefix j = 0..n-1
    (``all_prefixes``, IPR) or from the start only, ``samples`` per start with seeds seed + k."""
    by_task = {t.task_id: t for t in experts}
    starts = [(tid, j) for tid in chosen for j in (range(len(by_task[tid].steps)) if all_prefixes else [0])]
    return [EpisodeSpec(tid, seed + k, tuple(s.text for s in by_task[tid].steps[:j])) for tid, j in starts for k in range(samples)]


def explore(ctx: Context, d: Path, policy_path: str, chosen: list[str], all_prefixes: bool = True,
            section: Any = None, samples: int = 1) -> dict[str, Any]:  # fmt: skip
    """Episodes of the policy on the chosen expert tasks (:func:`explore_specs`), played through the
    execution seam. Sampling comes from ``section`` (default: the recipe's ``explore``)."""
    specs = explore_specs(ctx.load_experts(), chosen, ctx.recipe.seed, all_prefixes, samples)
    rows = ctx.executor.rollouts(d / "chunks", specs, policy_path, ctx.sampling(section or ctx.recipe.explore))
    write_jsonl_atomic(d / "explored.jsonl", rows)
    published = ctx.publish(d, "explored_trajectories", d.parent.name, rows)  # split = the iteration
    full = [r for r in rows if r["prefix_steps"] == 0]
    return {"episodes": len(rows), "experts": len(chosen),
            "agent_full_episode_reward": sum(r["final_reward"] for r in full) / max(len(full), 1), "published": published}  # fmt: skip


def reference(ctx: Context, sft_path: str, policy: str) -> str:
    """pi_ref as the recipe's ``train.reference`` says: the SFT model or the current policy."""
    return sft_path if ctx.recipe.train.reference == "sft" else policy


def train_settings(ctx: Context, i: int):
    """The recipe's ``train`` section for iteration ``i`` (ETO: other beta and lr after round 1)."""
    t = ctx.recipe.train
    if i == 1:
        return t
    return replace(t, beta=t.beta if t.beta_after_first is None else t.beta_after_first,
                   learning_rate=t.learning_rate if t.learning_rate_after_first is None else t.learning_rate_after_first)  # fmt: skip


def train(ctx: Context, d: Path, policy_path: str, reference_path: str, i: int, pairs_stage: str = "pairs") -> dict[str, Any]:
    """The preference update of the current policy on this iteration's pairs (IPR: the mixture loss;
    plain DPO when ``train.nll`` is ``none``), as a training job of the execution seam."""
    from harness.execution.jobs import TrainingJob

    rows = read_jsonl(ctx.iteration_file(i, pairs_stage, "pairs.jsonl"))
    if not rows:
        ctx.log(f"[iter{i}/train] no pairs: the policy is carried over unchanged")
        return {"path": policy_path, "pairs": 0, "trained": False}
    job = TrainingJob("preference", policy_path, str(d), train_settings(ctx, i), ctx.recipe.seed, reference=reference_path)
    out = ctx.executor.train(job, [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows])
    return {"path": out["path"], "pairs": len(rows), "trained": True, "dropped_too_long": out["dropped_too_long"],
            "resumed_from": out.get("resumed_from")}  # fmt: skip


def evaluate(ctx: Context, d: Path, model: str, split: str, label: str) -> dict[str, Any]:
    """Evaluate ``model`` greedily on the recipe's ``valid`` or ``test`` split (``data.valid_split`` /
    ``data.test_split``, limited as the recipe says) with full provenance: the episodes are played
    through the execution seam (checkpointed chunks, on the recipe's backend and workers)."""
    import time

    from harness.evaluation.evaluator import EvalConfig, evaluation_task_ids, score_episodes

    r, data = ctx.recipe, ctx.recipe.data
    limit = data.valid_tasks if split == "valid" else data.test_tasks
    split = data.valid_split if split == "valid" else data.test_split
    cfg = EvalConfig(env=r.env.id, env_kwargs=ctx.env_kwargs, policy=ctx.executor.spec(model), split=split, limit=limit,
                     seed=r.seed, temperature=r.evaluate.temperature, max_new_tokens=r.evaluate.max_new_tokens,
                     icl=r.prompt.icl, output=str(d), progress=False)  # fmt: skip
    started = time.perf_counter()
    specs = [EpisodeSpec(task_id, r.seed) for task_id in evaluation_task_ids(cfg)]
    rows = ctx.executor.rollouts(d / "episodes", specs, model, ctx.sampling(r.evaluate))
    trajectories = [Trajectory.from_dict(x) for x in rows]
    served = ctx.executor.served(d / "episodes")
    # the provenance records the in-context examples the seam played with (icl, their task ids and
    # hash), as `harness eval --icl` does, so a spot check regenerates with the same prompt
    result = score_episodes(cfg, trajectories, served, started, execution=ctx.executor.provenance(),
                            icl=(ctx.icl_messages, ctx.icl_task_ids))  # fmt: skip
    m = result.metrics["avg_reward"]
    ctx.log(f"  {label} {split}: avg_reward {m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}] (n={m.n})")
    return {"label": label, "path": model, "split": split, "metrics": {k: asdict(v) for k, v in result.metrics.items()}}


def select_best(ctx: Context, d: Path) -> dict[str, Any]:
    """The iteration with the best validation reward (ties: the earlier); test is never looked at."""
    rows = []
    for i in range(1, ctx.recipe.iterations + 1):
        m = ctx.run.manifest(f"iter{i}/eval_valid")
        rows.append((m["metrics"]["avg_reward"]["value"], -i, i, m["path"]))
    value, _, best, path = max(rows)
    ctx.log(f"[select] iteration {best} has the best validation reward ({value:.3f})")
    return {"iteration": best, "path": path, "valid_avg_reward": value, "by_iteration": {r[2]: r[0] for r in rows}}


def report(ctx: Context, d: Path, method: Method) -> dict[str, Any]:
    """The markdown report with plots."""
    from harness.pipeline.report import write_report

    return write_report(ctx.run, d, method)
