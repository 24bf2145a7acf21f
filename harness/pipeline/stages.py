"""The stage functions of the IPR pipeline; each takes its stage folder and returns its outputs."""

from __future__ import annotations

from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

from harness.pipeline.runner import Run, read_jsonl, reset_folder, run_chunked, write_jsonl_atomic
from harness.types import StepReward, Trajectory

EPISODE_CHUNK = 128  # episodes per checkpoint chunk in explore / estimate (also the generate batch)


def _trajs(path: Path) -> list[Trajectory]:
    return [Trajectory.from_dict(r) for r in read_jsonl(path)]


def _rewards(path: Path) -> list[StepReward]:
    return [StepReward(**{**r, "samples": tuple(r["samples"])}) for r in read_jsonl(path)]


class Context:
    """Shared helpers for one run: environment factory, policies, data I/O and publishing."""

    def __init__(self, run: Run):
        self.run = run
        self.recipe = run.recipe
        self.log = run.log

    # --- plumbing ------------------------------------------------------------------------------
    def make_env(self):
        """A fresh episode environment of the recipe's env (worlds are cached per process)."""
        from harness.envs import make_env

        return make_env(self.recipe.env.id, **self.recipe.env.kwargs)

    def task_ids(self, split: str, limit: int | None) -> list[str]:
        """The first ``limit`` task ids of ``split``."""
        ids = self.make_env().task_ids(split)
        return ids[:limit] if limit is not None else ids

    def policy(self, path: str):
        """The transformers policy of the model at ``path``, labelled by its path inside the runs folder
        (so trajectories do not depend on where the runs folder lives)."""
        from harness.policies import make_policy

        policy = make_policy(f"hf:{path}")
        try:
            policy.name = f"hf:{Path(path).resolve().relative_to(self.run.runs_dir.resolve())}"
        except ValueError:  # a base model outside the run keeps its own name
            pass
        return policy

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
        trajs = run_episodes(self.make_env, ids, ExpertPolicy(), seed=self.recipe.seed, max_steps=self.recipe.env.max_steps)
        kept = [t for t in trajs if t.success]
        write_jsonl_atomic(d / "trajectories.jsonl", [t.to_dict() for t in kept])
        published = self.publish(d, "expert_trajectories", "train", [t.to_dict() for t in kept])
        return {"n": len(kept), "dropped": [t.task_id for t in trajs if not t.success], "published": published}

    def load_experts(self) -> list[Trajectory]:
        """The expert trajectories of this run."""
        return _trajs(self.run.folder("expert") / "trajectories.jsonl")

    def sft(self, d: Path, model: str, trajectories: list[Trajectory] | None = None) -> dict[str, Any]:
        """SFT (assistant tokens only) on the conversations of ``trajectories`` (default: the experts)."""
        from harness.prompting import build_messages
        from harness.training.sft import train_sft

        trajs = self.load_experts() if trajectories is None else trajectories
        convs = [build_messages(t.env_id, t.initial_observation, t.steps)[:-1] for t in trajs]
        settings = replace(self.recipe.sft, seed=self.recipe.seed)
        return {"path": str(train_sft(model, convs, d, settings)), "conversations": len(convs)}

    def _estimate(self, d: Path, scorer: str, targets: list[tuple[Trajectory, int]]) -> list[StepReward]:
        """Monte-Carlo r_s of every target action with ``scorer``, checkpointed in chunks."""
        from harness.rewards.monte_carlo import score_steps

        e = self.recipe.estimate
        policy = self.policy(scorer)

        def work(part):
            scores, _ = score_steps(self.make_env, part, policy, n_rollouts=e.n, temperature=e.temperature,
                                    max_new_tokens=self.recipe.explore.max_new_tokens, seed=self.recipe.seed,
                                    max_steps=self.recipe.env.max_steps)  # fmt: skip
            return [
                asdict(StepReward(traj.id, t, policy.name, e.n, e.temperature, self.recipe.seed, sc.value, sc.samples, sc.terminal))
                for (traj, t), sc in zip(part, scores, strict=True)
            ]

        per_chunk = max(1, EPISODE_CHUNK // max(e.n, 1))
        rows = run_chunked(d / "chunks", targets, per_chunk, work)
        write_jsonl_atomic(d / "step_rewards.jsonl", rows)
        return _rewards(d / "step_rewards.jsonl")

    def explore(self, d: Path, policy_path: str, chosen: list[str], all_prefixes: bool = True,
                section=None, samples: int = 1) -> dict[str, Any]:  # fmt: skip
        """Episodes of the policy on the chosen expert tasks: from every expert prefix j = 0..n-1
        (IPR's step-wise exploration) or only from the start (j = 0: ETO, RFT), ``samples`` per start
        with seeds seed+k. Sampling comes from ``section`` (default: the recipe's ``explore``)."""
        from harness.rollout import run_episodes

        experts = {t.task_id: t for t in self.load_experts()}
        starts = [(tid, j) for tid in chosen for j in (range(len(experts[tid].steps)) if all_prefixes else [0])]
        episodes = [(tid, j, k) for tid, j in starts for k in range(samples)]
        policy = self.policy(policy_path)
        section = section or self.recipe.explore

        def work(part):
            prefixes = [[s.text for s in experts[tid].steps[:j]] for tid, j, _ in part]
            trajs = run_episodes(self.make_env, [tid for tid, _, _ in part], policy, self.sampling(section),
                                 seeds=[self.recipe.seed + k for _, _, k in part], max_steps=self.recipe.env.max_steps,
                                 prefixes=prefixes)  # fmt: skip
            return [replace(t, prefix_steps=j).to_dict() for t, (_, j, _) in zip(trajs, part, strict=True)]

        rows = run_chunked(d / "chunks", episodes, EPISODE_CHUNK, work)
        write_jsonl_atomic(d / "explored.jsonl", rows)
        published = self.publish(d, "explored_trajectories", d.parent.name, rows)  # split = the iteration
        full = [r for r in rows if r["prefix_steps"] == 0]
        return {"episodes": len(rows), "experts": len(chosen),
                "agent_full_episode_reward": sum(r["final_reward"] for r in full) / max(len(full), 1), "published": published}  # fmt: skip

    def inspect(self, d: Path, policy_path: str, chosen: list[str]) -> dict[str, Any]:
        """StepAgent's inspection: at every expert prefix j = 0..n-1 the policy samples its own next
        action (``recipe.inspect``: temperature, samples per prefix); nothing is rolled out after it."""
        from harness.rollout import run_episodes

        experts = {t.task_id: t for t in self.load_experts()}
        cfg = self.recipe.inspect
        episodes = [(tid, j, k) for tid in chosen for j in range(len(experts[tid].steps)) for k in range(cfg.samples)]
        policy = self.policy(policy_path)

        def work(part):
            prefixes = [[s.text for s in experts[tid].steps[:j]] for tid, j, _ in part]
            trajs = []
            for budget in sorted({j + 1 for _, j, _ in part}):  # one agent action after j replayed ones
                idx = [n for n, (_, j, _) in enumerate(part) if j + 1 == budget]
                got = run_episodes(self.make_env, [part[n][0] for n in idx], policy, self.sampling(cfg),
                                   seeds=[self.recipe.seed + part[n][2] for n in idx], max_steps=budget,
                                   prefixes=[prefixes[n] for n in idx])  # fmt: skip
                trajs += [(n, replace(t, prefix_steps=part[n][1]).to_dict()) for n, t in zip(idx, got, strict=True)]
            return [t for _, t in sorted(trajs, key=lambda x: x[0])]

        rows = run_chunked(d / "chunks", episodes, EPISODE_CHUNK, work)
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
        experts = {t.task_id: t for t in self.load_experts()}
        cached = self.cached_rewards(i)
        targets: list[tuple[Trajectory, int]] = []
        for x in explored:
            j = x.prefix_steps
            if j < 1 or len(x.steps) <= j:
                continue
            targets.append((x, j))
            e = experts[x.task_id]
            if (e.id, j) not in cached:
                targets.append((e, j))
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
        plain DPO when ``train.nll`` is ``none``)."""
        from harness.training.preference_stage import train_preference

        rows = read_jsonl(self.run.root / f"iter{i}" / pairs_stage / "pairs.jsonl")
        if not rows:
            self.log(f"[iter{i}/train] no pairs: the policy is carried over unchanged")
            return {"path": policy_path, "pairs": 0, "trained": False}
        out = train_preference(policy_path, reference_path, rows, d, self.train_settings(i), seed=self.recipe.seed)
        return {"path": str(out["path"]), "pairs": len(rows), "trained": True, "dropped_too_long": out["dropped_too_long"]}

    def train_settings(self, i: int):
        """The recipe's ``train`` section for iteration ``i`` (ETO: other beta and lr after round 1)."""
        t = self.recipe.train
        if i == 1:
            return t
        return replace(t, beta=t.beta if t.beta_after_first is None else t.beta_after_first,
                       learning_rate=t.learning_rate if t.learning_rate_after_first is None else t.learning_rate_after_first)  # fmt: skip

    def evaluate(self, d: Path, model: str, split: str, label: str) -> dict[str, Any]:
        """Evaluate ``model`` greedily on the recipe's ``valid`` or ``test`` split (``data.valid_split`` /
        ``data.test_split``, limited as the recipe says) with full provenance."""
        from harness.evaluation.evaluator import EvalConfig, evaluate

        data = self.recipe.data
        limit = data.valid_tasks if split == "valid" else data.test_tasks
        split = data.valid_split if split == "valid" else data.test_split
        cfg = EvalConfig(env=self.recipe.env.id, env_kwargs=self.recipe.env.kwargs, policy=f"hf:{model}", split=split,
                         limit=limit, seed=self.recipe.seed, temperature=self.recipe.evaluate.temperature,
                         max_new_tokens=self.recipe.evaluate.max_new_tokens, output=str(d), progress=False)  # fmt: skip
        result, _ = evaluate(cfg)
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
