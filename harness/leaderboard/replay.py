"""Verify a submission by replaying it: nothing in an entry is taken on trust.

For the pinned environment (built from the result's recorded ``env_kwargs``, whose version must
equal the declared one) the verifier checks the comparability key (env version, step budget, the
eval set's task-id hash), that every task of the eval set has exactly one trajectory, and then
replays each trajectory: ``reset(task_id)``, then every logged action through ``step``, comparing
the initial observation, each observation, reward, done flag and info, the stop reason and the
final reward. A step whose action is ``None`` was a malformed reply: it used a step but never
reached the environment, so it must carry the invalid-format answer. Each logged action must be
the action of its own reply text. Finally the metrics and per-task rewards of ``results.json``
are recomputed from the replayed trajectories, and the comparability key is rebuilt from the
pinned environment and must hash to the declared one (so ``4.0`` tasks or another metrics version
cannot open a key of their own).

Every comparison of numbers is written so that a non-finite value fails it (:func:`close`): NaN
compares unequal to everything, so ``abs(a - b) > tol`` would let it through.
"""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import replace
from typing import Any

from harness.envs.base import Environment
from harness.leaderboard.entry import ComparabilityKey, Submission, SubmissionRejected
from harness.leaderboard.eval_sets import EvalSets
from harness.leaderboard.untrusted_rows import check_result, check_trajectory_row
from harness.types import Trajectory, final_reward_of

VERIFIER_VERSION = "1"
TOLERANCE = 1e-9
"""Rewards and metrics are deterministic; the tolerance only absorbs float printing."""


def close(a: Any, b: Any) -> bool:
    """``a`` and ``b`` are finite numbers within :data:`TOLERANCE`: NaN, infinities and non-numbers fail."""
    numbers = all(type(x) in (int, float) for x in (a, b))
    return numbers and math.isfinite(a) and math.isfinite(b) and abs(a - b) <= TOLERANCE


def build_pinned_env(env_id: str, env_kwargs: dict[str, Any], source: str) -> Environment:
    """The environment an entry was evaluated in, or a rejection that says why it cannot be built."""
    from harness.envs import make_env

    try:
        return make_env(env_id, **env_kwargs)
    except Exception as e:  # any failure (missing data, unknown option, missing package) is a rejection
        raise SubmissionRejected(source, [
            f"cannot build the pinned environment '{env_id}' from the recorded env_kwargs {json.dumps(env_kwargs)}: {e}. "
            "If the data lives elsewhere on this machine, pass --data PATH (its content must match the env version)."
        ]) from None  # fmt: skip


def verify_submission(sub: Submission, eval_sets: EvalSets, env_overrides: dict[str, Any] | None = None,
                      replay_tasks: set[str] | None = None) -> tuple[dict[str, Any], list[Trajectory]]:  # fmt: skip
    """Replay ``sub`` in its pinned environment; return (verification summary, trajectories in eval order).

    Raises :class:`SubmissionRejected` when the key is not one of ``eval_sets`` (the leaderboard's
    registered eval sets and protocols), and listing every mismatch, missing, extra or duplicated
    task, and key mismatch found. ``replay_tasks`` (a quick re-check of stored entries) replays only
    those tasks' episodes; every other check still covers all of them.
    """
    from harness.evaluation.evaluator import validate_results

    try:
        validate_results(sub.result)
    except ValueError as e:
        raise SubmissionRejected(sub.source, [str(e)]) from None
    problems = check_result(sub.result)
    for n, row in enumerate(sub.trajectories, 1):
        problems += check_trajectory_row(row, f"trajectories.jsonl line {n}")
    if problems:  # nothing below meets a value of the wrong type
        raise SubmissionRejected(sub.source, problems)
    key = ComparabilityKey.from_result(sub.result)
    prov = sub.result["provenance"]
    eval_set = eval_sets.check(key, prov["env_kwargs"], prov.get("limit"), sub.source)
    trajs = []
    for n, row in enumerate(sub.trajectories, 1):
        try:
            trajs.append(Trajectory.from_dict(row))
        except ValueError as e:  # the content hash does not match
            problems.append(f"trajectories.jsonl line {n}: {e}")
    env_kwargs = {**prov["env_kwargs"], **(env_overrides or {})}
    env = build_pinned_env(key.env_id, env_kwargs, sub.source)
    expected = _check_key(env, key, prov.get("limit"), sub.source)
    problems += _check_coverage(expected, [t.task_id for t in trajs], sub.result["per_task"])
    steps = 0
    for t in trajs:
        if (t.env_id, t.env_version) != (key.env_id, key.env_version):
            problems.append(f"task {t.task_id}: trajectory recorded in {t.env_id} {t.env_version}, "
                            f"results.json in {key.env_id} {key.env_version}")
            continue
        try:
            problem = None if replay_tasks is not None and t.task_id not in replay_tasks else replay_trajectory(env, t, key.max_steps)
        except Exception as e:  # noqa: BLE001 - whatever logged input makes the environment fail is that input's fault
            problem = f"the environment failed replaying it ({type(e).__name__}: {e})"
        if problem:
            problems.append(f"task {t.task_id} (trajectory {t.id}): {problem}")
        claimed = sub.result["per_task"].get(t.task_id)
        if claimed is not None and not close(claimed, t.final_reward):
            problems.append(f"task {t.task_id}: results.json per_task says {claimed} but the trajectory's final reward is {t.final_reward}")
        steps += len(t.steps)
    if problems:
        raise SubmissionRejected(sub.source, problems)
    order = {tid: i for i, tid in enumerate(expected)}
    trajs.sort(key=lambda t: order[t.task_id])
    problems = check_metrics(sub.result["metrics"], trajs)
    if problems:
        raise SubmissionRejected(sub.source, problems)
    from harness.provenance import git_state

    summary = {"verifier_version": VERIFIER_VERSION, "episodes": len(trajs), "steps": steps, "env_version": env.version,
               "eval_set": eval_set.name, "harness_git": git_state()}  # fmt: skip
    return summary, trajs


def _check_key(env: Environment, key: ComparabilityKey, limit: int | None, source: str) -> list[str]:
    """The eval set's task ids; rejects when the pinned env does not reproduce the declared key."""
    from harness.evaluation.evaluator import task_ids_hash
    from harness.evaluation.metrics import METRICS_VERSION

    if env.version != key.env_version:
        raise SubmissionRejected(source, [
            f"key mismatch: env version — results.json was produced in '{key.env_version}' but the pinned environment is "
            f"'{env.version}' (rules, reward, data or seed differ); re-evaluate in the current environment"
        ])  # fmt: skip
    problems = []
    if env.max_steps != key.max_steps:
        problems.append(f"key mismatch: max_steps — results.json says {key.max_steps}, the pinned environment allows {env.max_steps}")
    try:
        ids = env.task_ids(key.split)
    except ValueError as e:
        raise SubmissionRejected(source, [f"key mismatch: split — {e}"]) from None
    expected = ids[:limit] if limit else ids
    if task_ids_hash(expected) != key.task_ids_hash or len(expected) != key.n_tasks:
        problems.append(
            f"key mismatch: eval set — the first {len(expected)} tasks of split '{key.split}' hash to {task_ids_hash(expected)}, "
            f"results.json says {key.task_ids_hash} ({key.n_tasks} tasks)"
        )
    # the key as this leaderboard would write it; any difference in value or type is another key
    ours = replace(key, env_id=env.env_id, env_version=env.version, task_ids_hash=task_ids_hash(expected),
                   n_tasks=len(expected), max_steps=env.max_steps, metrics_version=METRICS_VERSION)  # fmt: skip
    if not problems and ours.hash != key.hash:
        problems.append(f"key mismatch: results.json declares key {key.hash}, the pinned environment reproduces key {ours.hash}")
    if problems:
        raise SubmissionRejected(source, problems)
    return expected


def _check_coverage(expected: list[str], got: list[str], per_task: dict[str, float]) -> list[str]:
    """Exactly one trajectory (and one per-task reward) per task of the eval set."""
    counts, wanted = Counter(got), set(expected)
    problems = []
    missing = [t for t in expected if t not in counts]
    if missing:
        problems.append(f"missing task(s) {_few(missing)}: the eval set has {len(expected)} tasks and each needs its trajectory")
    extra = [t for t in counts if t not in wanted]
    if extra:
        problems.append(f"extra task(s) {_few(extra)} are not in the eval set (split and limit of results.json)")
    dups = [t for t, c in counts.items() if c > 1]
    if dups:
        problems.append(f"duplicate trajectories for task(s) {_few(dups)}: one episode per task")
    if set(per_task) != wanted:
        problems.append(f"results.json per_task lists {len(per_task)} tasks, not exactly the {len(expected)} of the eval set")
    return problems


def _few(ids: list[str], n: int = 8) -> str:
    return ", ".join(ids[:n]) + (f" (+{len(ids) - n} more)" if len(ids) > n else "")


def replay_trajectory(env: Environment, t: Trajectory, budget: int) -> str | None:
    """Replay one logged episode; return the first difference from the environment, or ``None``."""
    from harness.prompting import INVALID_FORMAT, parse_react

    if t.prefix_steps:
        return f"prefix_steps is {t.prefix_steps}: evaluation episodes are played by the policy from the first step"
    try:
        obs = env.reset(t.task_id)
        task = env.task(t.task_id)
    except (ValueError, KeyError) as e:
        return str(e)
    if obs != t.initial_observation:
        return f"the initial observation differs from the environment's{_diff(t.initial_observation, obs)}"
    if task.instruction != t.instruction:
        return "the instruction differs from the task's"
    if not close(t.success_threshold, env.success_threshold):
        return f"success threshold {t.success_threshold}, the environment's is {env.success_threshold}"
    ended = None
    for i, s in enumerate(t.steps, 1):
        if ended:
            return f"step {i}: the episode had already ended ({ended}) after step {i - 1}"
        if parse_react(s.text)[1] != s.action:
            return f"step {i}: logged action {s.action!r} is not the action of its reply text ({parse_react(s.text)[1]!r})"
        if s.action is None:
            if (s.observation, s.reward, s.done) != (INVALID_FORMAT, 0.0, False):
                return f"step {i}: a reply without an action gets the invalid-format answer, reward 0 and no end"
        else:
            r = env.step(s.action)
            if r.observation != s.observation:
                return f"step {i} ({s.action!r}): the observation differs from the environment's{_diff(s.observation, r.observation)}"
            if not close(r.reward, s.reward) or r.done != s.done:
                return f"step {i} ({s.action!r}): logged reward {s.reward} (done={s.done}), the environment gives {r.reward} (done={r.done})"
            if _plain(r.info) != _plain({k: v for k, v in s.info.items() if k != "replayed"}):
                return f"step {i} ({s.action!r}): the logged info differs from the environment's"
        if s.done and not s.info.get("truncated"):
            ended = "done"
        elif i >= budget or s.done:
            ended = "max_steps"
    stop = ended or "context_overflow"
    if t.stop_reason != stop:
        return f"stop reason '{t.stop_reason}', but the replayed episode stops with '{stop}'"
    final = final_reward_of(t.steps, stop)
    if not close(t.final_reward, final):
        return f"final reward {t.final_reward}, but the replayed episode earns {final}"
    return None


def _plain(x: Any) -> Any:
    return json.loads(json.dumps(x, sort_keys=True, default=str))


def _diff(logged: str, actual: str) -> str:
    k = next((i for i, (a, b) in enumerate(zip(logged, actual, strict=False)) if a != b), min(len(logged), len(actual)))
    return f" (first difference at character {k}: logged {logged[k:k + 40]!r}, environment {actual[k:k + 40]!r})"


def check_metrics(claimed: dict[str, dict[str, Any]], trajs: list[Trajectory]) -> list[str]:
    """Recompute the evaluator's metrics from the replayed trajectories and compare."""
    from harness.evaluation.metrics import episode_metrics

    recomputed = episode_metrics(trajs)
    problems = []
    for name, m in claimed.items():
        if name not in recomputed:
            problems.append(f"metric '{name}' cannot be recomputed by the leaderboard; submit the evaluator's own results.json")
            continue
        ours = recomputed[name]
        for field in ("value", "n", "ci_low", "ci_high"):
            a, b = m[field], getattr(ours, field)
            if (a is None) != (b is None) or (a is not None and not close(a, b)):
                problems.append(f"metric {name}.{field}: results.json says {a} but the replayed trajectories give {b}")
    return problems
