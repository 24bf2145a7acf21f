"""The stage functions of the IPR pipeline; each takes its stage folder and returns its outputs."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from harness.execution.checkpoints import read_jsonl, write_jsonl_atomic
from harness.pipeline.runner import Run, reset_folder
from harness.rollout import EpisodeSpec
from harness.types import StepReward, Trajectory


def _trajs(path: Path) -> list[Trajectory]:
    return [Trajectory.from_dict(r) for r in read_jsonl(path)]


def _rewards(path: Path) -> list[StepReward]:
    return [StepReward(**{**r, "samples": tuple(r["samples"])}) for r in read_jsonl(path)]


def explore_specs(experts: list[Trajectory], chosen: list[str], seed: int, all_prefixes: bool = True,
                  samples: int = 1) -> list[EpisodeSpec]:  # fmt: skip
    """The episodes of an exploration: on each chosen expert task, from every expert prefix j = 0..n-1
    (``all_prefixes``, IPR) or from the start only, ``samples`` per start with seeds seed + k."""
    by_task = {t.task_id: t for t in experts}
    starts = [(tid, j) for tid in chosen for j in (range(len(by_task[tid].steps)) if all_prefixes else [0])]
    return [EpisodeSpec(tid, seed + k, tuple(s.text for s in by_task[tid].steps[:j])) for tid, j in starts for k in range(samples)]


def estimate_targets(explored: list[Trajectory], experts: list[Trajectory],
                     done: set[tuple[str, int]] = frozenset()) -> list[tuple[Trajectory, int]]:  # fmt: skip
    """The actions IPR scores in an iteration: every explored action a'_{j+1} taken after an expert
    prefix of j >= 1 steps, and the expert's own a_{j+1} there (unless ``done`` holds its (id, j))."""
    by_task = {t.task_id: t for t in experts}
    targets: list[tuple[Trajectory, int]] = []
    for x in explored:
        j = x.prefix_steps
        if j < 1 or len(x.steps) <= j:
            continue
        targets.append((x, j))
        e = by_task[x.task_id]
        if (e.id, j) not in done:
            targets.append((e, j))
    return targets


class Context:
    """Shared helpers for one run: environment factory, the execution seam, data I/O and publishing."""

    def __init__(self, run: Run):
        from harness.execution.executor import Executor

        self.run = run
        self.recipe = run.recipe
        self.log = run.log
        self.executor = Executor(self.recipe.execution, self.make_env, label_root=run.runs_dir, log=run.log)

    # --- plumbing ------------------------------------------------------------------------------
    @property
    def env_kwargs(self) -> dict[str, Any]:
        """The environment's factory arguments: the recipe's ``env.kwargs`` and its one step budget."""
        e = self.recipe.env
        return {**e.kwargs, **({"max_steps": e.max_steps} if e.max_steps is not None else {})}

    def make_env(self):
        """A fresh episode environment of the recipe's env (worlds are cached per process)."""
        from harness.envs import make_env

        return make_env(self.recipe.env.id, **self.env_kwargs)

    def task_ids(self, split: str, limit: int | None) -> list[str]:
        """The first ``limit`` task ids of ``split``."""
        ids = self.make_env().task_ids(split)
        return ids[:limit] if limit is not None else ids

    def sampling(self, section, temperature: float | None = None):
        from harness.policies import Sampling

        t = section.temperature if temperature is None else temperature
        return Sampling(temperature=t, max_new_tokens=section.max_new_tokens)

    def publish(self, folder: Path, config: str, split: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
        """Publish ``rows`` as ``config/split`` of the recipe's dataset repo (when the recipe asks)."""
        if not self.recipe.data.publish:
            return {}
        from harness.pipeline.publishing import publish_rows

        expert_ids = {t.task_id: t.id for t in self.load_experts()} if config == "explored_trajectories" else None
        shared = self.run.runs_dir.resolve() / "_shared" in folder.resolve().parents
        return publish_rows(self.run, folder, config, split, rows, expert_ids, shared=shared)

    # --- stages --------------------------------------------------------------------------------
    def init_model(self, d: Path) -> dict[str, Any]:
        """The starting model: the recipe's base model, or a from-scratch preset."""
        from harness.models import init_model, resolve_model

        m = self.recipe.model
        if m.base:
            return {"path": resolve_model(m.base)}
        reset_folder(d / "model")  # a kill during init leaves a partial folder
        path = init_model(m.init_preset, self.recipe.env.id, d / "model", seed=self.recipe.seed,
                          env_kwargs=self.recipe.env.kwargs, corpus_tasks=m.corpus_tasks,
                          copy_pretraining=m.copy_pretraining)  # fmt: skip
        return {"path": str(path)}

    def expert_trajectories(self, d: Path) -> dict[str, Any]:
        """The scripted expert on the train tasks; goals it cannot solve are dropped and counted."""
        from harness.policies.scripted import ExpertPolicy
        from harness.rollout import run_episodes

        ids = self.task_ids(self.recipe.data.train_split, self.recipe.data.train_tasks)
        trajs = run_episodes(self.make_env, ids, ExpertPolicy(), seed=self.recipe.seed)
        kept = [t for t in trajs if t.success]
        write_jsonl_atomic(d / "trajectories.jsonl", [t.to_dict() for t in kept])
        published = self.publish(d, "expert_trajectories", "train", [t.to_dict() for t in kept])
        return {"n": len(kept), "dropped": [t.task_id for t in trajs if not t.success], "published": published}

    def load_experts(self) -> list[Trajectory]:
        """The expert trajectories of this run."""
        return _trajs(self.run.folder("expert") / "trajectories.jsonl")

    def sft(self, d: Path, model: str, trajectories: list[Trajectory] | None = None) -> dict[str, Any]:
        """SFT (assistant tokens only) on the conversations of ``trajectories`` (default: the experts),
        as a training job of the execution seam."""
        from harness.execution.jobs import TrainingJob
        from harness.prompting import build_messages

        trajs = self.load_experts() if trajectories is None else trajectories
        rows = [{"messages": build_messages(t.env_id, t.initial_observation, t.steps)[:-1]} for t in trajs]
        if not rows:
            raise ValueError("SFT needs at least one expert conversation: the expert stage kept none")
        settings = replace(self.recipe.sft, seed=self.recipe.seed)
        out = self.executor.train(TrainingJob("sft", model, str(d), settings, self.recipe.seed), rows)
        return {"path": out["path"], "conversations": len(rows)}

    def _estimate(self, d: Path, scorer: str, targets: list[tuple[Trajectory, int]]) -> list[StepReward]:
        """Monte-Carlo r_s of every target action with ``scorer``: the rollouts are planned here and
        played through the execution seam (checkpointed chunks; only final rewards are kept)."""
        from harness.rewards.monte_carlo import collect_scores, plan_rollouts

        e = self.recipe.estimate
        plan = plan_rollouts(targets, e.n, self.recipe.seed, self.make_env().max_steps)
        finals = self.executor.rollouts(d / "chunks", plan.specs, scorer, self.sampling(self.recipe.explore, e.temperature),
                                        row=lambda t: {"final_reward": t.final_reward})  # fmt: skip
        scores = collect_scores(plan, [r["final_reward"] for r in finals])
        name = self.executor.label(scorer)
        rows = [asdict(StepReward(traj.id, t, name, e.n, e.temperature, self.recipe.seed, sc.value, sc.samples, sc.terminal))
                for (traj, t), sc in zip(targets, scores, strict=True)]  # fmt: skip
        write_jsonl_atomic(d / "step_rewards.jsonl", rows)
        return _rewards(d / "step_rewards.jsonl")

    def explore(self, d: Path, policy_path: str, chosen: list[str], all_prefixes: bool = True,
                section=None, samples: int = 1) -> dict[str, Any]:  # fmt: skip
        """Episodes of the policy on the chosen expert tasks: from every expert prefix j = 0..n-1
        (IPR's step-wise exploration) or only from the start (j = 0: ETO, RFT), ``samples`` per start
        with seeds seed+k. Sampling comes from ``section`` (default: the recipe's ``explore``)."""
        specs = explore_specs(self.load_experts(), chosen, self.recipe.seed, all_prefixes, samples)
        rows = self.executor.rollouts(d / "chunks", specs, policy_path, self.sampling(section or self.recipe.explore))
        write_jsonl_atomic(d / "explored.jsonl", rows)
        published = self.publish(d, "explored_trajectories", d.parent.name, rows)  # split = the iteration
        full = [r for r in rows if r["prefix_steps"] == 0]
        return {"episodes": len(rows), "experts": len(chosen),
                "agent_full_episode_reward": sum(r["final_reward"] for r in full) / max(len(full), 1), "published": published}  # fmt: skip

    def inspect(self, d: Path, policy_path: str, chosen: list[str]) -> dict[str, Any]:
        """StepAgent's inspection: at every expert prefix j = 0..n-1 the policy samples its own next
        action (``recipe.inspect``: temperature, samples per prefix); nothing is rolled out after it."""
        experts = {t.task_id: t for t in self.load_experts()}
        cfg = self.recipe.inspect
        # one agent action after the j replayed expert replies: a budget of j + 1 steps
        specs = [EpisodeSpec(tid, self.recipe.seed + k, tuple(s.text for s in experts[tid].steps[:j]), j + 1)
                 for tid in chosen for j in range(len(experts[tid].steps)) for k in range(cfg.samples)]  # fmt: skip
        rows = self.executor.rollouts(d / "chunks", specs, policy_path, self.sampling(cfg))
        write_jsonl_atomic(d / "inspected.jsonl", rows)
        published = self.publish(d, "explored_trajectories", f"{d.parent.name}_inspect", rows)
        return {"samples": len(rows), "experts": len(chosen), "published": published}

    def cached_rewards(self, before: int) -> dict[tuple[str, int], StepReward]:
        """Step rewards estimated in iterations 1..before-1 (the scorer is fixed, so they stay valid)."""
        out: dict[tuple[str, int], StepReward] = {}
        for k in range(1, before):
            for r in _rewards(self.run.root / f"iter{k}" / "estimate" / "step_rewards.jsonl"):
                out[(r.trajectory_id, r.step_index)] = r
        return out

    def estimate(self, d: Path, sft: str, i: int) -> dict[str, Any]:
        """r_s with the SFT scorer of the explored actions a'_{j+1} (j >= 1) and of the expert actions
        a_{j+1} they are compared with; expert estimates from earlier iterations are reused, not redone."""
        explored = _trajs(self.run.root / f"iter{i}" / "explore" / "explored.jsonl")
        cached = self.cached_rewards(i)
        targets = estimate_targets(explored, self.load_experts(), set(cached))
        est = self._estimate(d, sft, targets)
        rows = read_jsonl(d / "step_rewards.jsonl")
        published = self.publish(d, "step_rewards", f"iter{i}", rows)
        return {"n": len(est), "reused": len(cached), "mean": sum(r.value for r in est) / max(len(est), 1), "published": published}

    def pairs(self, d: Path, i: int) -> dict[str, Any]:
        """IPR's outcome and step pairs for iteration ``i``."""
        from harness.pairs.ipr import build_ipr_pairs

        explored = _trajs(self.run.root / f"iter{i}" / "explore" / "explored.jsonl")
        rewards = self.cached_rewards(i + 1) if self.recipe.pairs.step_pairs else {}
        pairs, stats = build_ipr_pairs(self.load_experts(), explored, rewards, self.recipe.pairs)
        rows = [p.to_dict() for p in pairs]
        write_jsonl_atomic(d / "pairs.jsonl", rows)
        published = self.publish(d, "pairs", f"iter{i}", rows)
        return {"n": len(rows), "stats": asdict(stats), "published": published}

    def train(self, d: Path, policy_path: str, reference_path: str, i: int, pairs_stage: str = "pairs") -> dict[str, Any]:
        """The preference update of the current policy on this iteration's pairs (IPR: the mixture loss;
        plain DPO when ``train.nll`` is ``none``), as a training job of the execution seam."""
        from harness.execution.jobs import TrainingJob

        rows = read_jsonl(self.run.root / f"iter{i}" / pairs_stage / "pairs.jsonl")
        if not rows:
            self.log(f"[iter{i}/train] no pairs: the policy is carried over unchanged")
            return {"path": policy_path, "pairs": 0, "trained": False}
        job = TrainingJob("preference", policy_path, str(d), self.train_settings(i), self.recipe.seed, reference=reference_path)
        pairs = [{"prompt": r["prompt"], "chosen": r["chosen"], "rejected": r["rejected"]} for r in rows]
        out = self.executor.train(job, pairs)
        return {"path": out["path"], "pairs": len(rows), "trained": True, "dropped_too_long": out["dropped_too_long"]}

    def train_settings(self, i: int):
        """The recipe's ``train`` section for iteration ``i`` (ETO: other beta and lr after round 1)."""
        t = self.recipe.train
        if i == 1:
            return t
        return replace(t, beta=t.beta if t.beta_after_first is None else t.beta_after_first,
                       learning_rate=t.learning_rate if t.learning_rate_after_first is None else t.learning_rate_after_first)  # fmt: skip

    def evaluate(self, d: Path, model: str, split: str, label: str) -> dict[str, Any]:
        """Evaluate ``model`` greedily on the recipe's ``valid`` or ``test`` split (``data.valid_split`` /
        ``data.test_split``, limited as the recipe says) with full provenance, on the recipe's backend."""
        from harness.evaluation.evaluator import EvalConfig, evaluate

        data = self.recipe.data
        limit = data.valid_tasks if split == "valid" else data.test_tasks
        split = data.valid_split if split == "valid" else data.test_split
        cfg = EvalConfig(env=self.recipe.env.id, env_kwargs=self.env_kwargs, policy=self.executor.spec(model), split=split,
                         limit=limit, seed=self.recipe.seed, temperature=self.recipe.evaluate.temperature,
                         max_new_tokens=self.recipe.evaluate.max_new_tokens, output=str(d), progress=False)  # fmt: skip
        with self.executor.policy(model) as policy:
            result, _ = evaluate(cfg, policy=policy, execution=self.executor.provenance())
        m = result.metrics["avg_reward"]
        self.log(f"  {label} {split}: avg_reward {m.value:.3f} [{m.ci_low:.3f}, {m.ci_high:.3f}] (n={m.n})")
        return {"label": label, "path": model, "split": split, "metrics": {k: asdict(v) for k, v in result.metrics.items()}}

    def select_best(self, d: Path) -> dict[str, Any]:
        """The iteration with the best validation reward (ties: the earlier); test is never looked at."""
        rows = []
        for i in range(1, self.recipe.iterations + 1):
            m = self.run.manifest(f"iter{i}/eval_valid")
            rows.append((m["metrics"]["avg_reward"]["value"], -i, i, m["path"]))
        value, _, best, path = max(rows)
        self.log(f"[select] iteration {best} has the best validation reward ({value:.3f})")
        return {"iteration": best, "path": path, "valid_avg_reward": value, "by_iteration": {r[2]: r[0] for r in rows}}

    def report(self, d: Path) -> dict[str, Any]:
        """The markdown report with plots."""
        from harness.pipeline.report import write_report

        return write_report(self.run, d)
