"""Conversions between the core records (:mod:`harness.types`) and dataset rows of each config.

A row is a plain dict matching :func:`harness.data.schema.features_for`. Trajectory rows keep every
field of :class:`~harness.types.Trajectory`; a step's ``info`` and the row's ``extra`` are JSON
strings. Every row carries an ``id``: for trajectories the trajectory's own content-hash id, for
other configs the content hash of the row's other columns.
"""

from __future__ import annotations

import json
from dataclasses import asdict
from typing import Any

from harness.data.schema import TRAJECTORY_CONFIGS, check_config
from harness.types import Pair, Step, StepReward, Task, Trajectory, content_hash


def _dump(obj: dict[str, Any]) -> str:
    return json.dumps(obj, sort_keys=True, ensure_ascii=False)


def trajectory_to_row(traj: Trajectory, extra: dict[str, Any] | None = None, expert_id: str | None = None) -> dict[str, Any]:
    """The dataset row of ``traj``; pass ``expert_id`` (the replayed expert's id) for explored trajectories."""
    d = traj.to_dict()
    d["steps"] = [{**s, "info": _dump(s["info"])} for s in d["steps"]]
    d["extra"] = _dump(extra or {})
    if expert_id is not None:
        d["expert_id"] = expert_id
    return d


def trajectory_from_row(row: dict[str, Any]) -> Trajectory:
    """The :class:`~harness.types.Trajectory` stored in a trajectory row (the ``id`` is not checked)."""
    steps = tuple(
        Step(
            text=s["text"],
            action=s["action"],
            observation=s["observation"],
            reward=s["reward"],
            done=s["done"],
            info=json.loads(s["info"] or "{}"),
        )
        for s in row["steps"]
    )
    return Trajectory(
        env_id=row["env_id"],
        env_version=row["env_version"],
        task_id=row["task_id"],
        instruction=row["instruction"],
        initial_observation=row["initial_observation"],
        steps=steps,
        final_reward=row["final_reward"],
        stop_reason=row["stop_reason"],
        policy=row["policy"],
        seed=row["seed"],
        success_threshold=row["success_threshold"],
        prefix_steps=row["prefix_steps"],
    )


def row_extra(row: dict[str, Any]) -> dict[str, Any]:
    """The decoded ``extra`` column of a trajectory row (``{}`` when empty)."""
    return json.loads(row.get("extra") or "{}")


def task_to_row(task: Task) -> dict[str, Any]:
    """The ``tasks`` row of ``task`` (with its id)."""
    row = {"env_id": task.env_id, "task_id": task.task_id, "instruction": task.instruction, "split": task.split}
    return with_id("tasks", row)


def step_reward_to_row(reward: StepReward) -> dict[str, Any]:
    """The ``step_rewards`` row of ``reward`` (with its id)."""
    d = asdict(reward)
    d["samples"] = list(d["samples"])
    return with_id("step_rewards", d)


def step_reward_from_row(row: dict[str, Any]) -> StepReward:
    """The :class:`~harness.types.StepReward` of a ``step_rewards`` row."""
    fields = {k: v for k, v in row.items() if k != "id"}
    return StepReward(**{**fields, "samples": tuple(fields["samples"])})


def pair_to_row(pair: Pair) -> dict[str, Any]:
    """The ``pairs`` row of ``pair`` (TRL preference columns plus metadata, with its id)."""
    return with_id("pairs", pair.to_dict())


def pair_from_row(row: dict[str, Any]) -> Pair:
    """The :class:`~harness.types.Pair` of a ``pairs`` row."""
    fields = {k: v for k, v in row.items() if k != "id"}
    for k in ("prompt", "chosen", "rejected"):
        fields[k] = tuple(dict(m) for m in fields[k])
    return Pair(**fields)


def compute_row_id(config: str, row: dict[str, Any]) -> str:
    """The id a row of ``config`` must carry: its content hash.

    Trajectory rows use :attr:`Trajectory.id` (what step rewards and pairs refer to); the ``success``
    flag, the policy label, the seed and ``extra`` are covered by the split's content hash instead.
    """
    check_config(config)
    if config in TRAJECTORY_CONFIGS:
        return trajectory_from_row(row).id
    return content_hash({k: v for k, v in row.items() if k != "id"})


def with_id(config: str, row: dict[str, Any]) -> dict[str, Any]:
    """A copy of ``row`` with its ``id`` column set to :func:`compute_row_id`."""
    out = {k: v for k, v in row.items() if k != "id"}
    return {"id": compute_row_id(config, out), **out}
