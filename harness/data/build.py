"""Building datasets from an environment: the task list of a split, and the expert's trajectories.

``harness data build webshop --split train`` runs the scripted expert (``make_policy("expert")``)
through the rollout engine on every task of the split and writes an ``expert_trajectories`` split
into a dataset folder, with provenance: the command, recipe, config hash, env version, seeds, the
hash of the task ids and the code version.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from harness.data.errors import DataError
from harness.data.folder import write_split
from harness.data.rows import task_to_row, trajectory_to_row
from harness.types import content_hash

BUILDABLE = ("expert_trajectories", "tasks")


@dataclass(frozen=True)
class BuildConfig:
    """What a build does; its hash (the config hash) leaves out where the output goes."""

    env: str = "webshop"
    split: str = "train"
    config: str = "expert_trajectories"
    """``expert_trajectories`` (run the expert) or ``tasks`` (list the split's tasks)."""
    policy: str = "expert"
    seed: int = 0
    """Episode seed (the expert's wording of thoughts varies with it)."""
    limit: int | None = None
    """Only the first ``limit`` tasks of the split (in the environment's stable order)."""
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    """Environment factory arguments, e.g. ``{"data": ..., "seed": 0}`` for WebShop."""

    def config_hash(self) -> str:
        """Content hash of the resolved build config."""
        return content_hash(asdict(self))


def _code_version() -> dict[str, Any]:
    from harness import __version__
    from harness.provenance import git_state

    return {"harness": __version__, "git": git_state()}


def build(
    cfg: BuildConfig, output: Path, command: str | None = None, recipe: str | None = None, append: bool = False
) -> dict[str, Any]:
    """Build ``cfg.config`` for ``cfg.split`` of ``cfg.env`` into dataset folder ``output``.

    Returns the split's manifest entry (rows, content hash, stats, provenance). With ``append``,
    new rows are added to the split's existing rows (rows already present are skipped).
    """
    from harness.envs import make_env

    if cfg.config not in BUILDABLE:
        raise DataError(
            f"`harness data build` makes {' or '.join(BUILDABLE)}, not '{cfg.config}': "
            "explored trajectories, step rewards and pairs come from the pipeline's stages (recipes)"
        )
    env = make_env(cfg.env, **cfg.env_kwargs)
    task_ids = env.task_ids(cfg.split)[: cfg.limit]
    if not task_ids:
        raise DataError(f"split '{cfg.split}' of {cfg.env} has no tasks (with --limit {cfg.limit}); nothing to build")
    if cfg.config == "tasks":
        rows = [task_to_row(env.task(t)) for t in task_ids]
    else:
        rows = _expert_rows(cfg, task_ids)
    provenance = {
        "stage": "build",
        "command": command,
        "recipe": recipe,
        "config": asdict(cfg),
        "config_hash": cfg.config_hash(),
        "env_id": env.env_id,
        "env_version": env.version,
        "policy": cfg.policy if cfg.config != "tasks" else None,
        "seeds": {"env": cfg.env_kwargs.get("seed")} | ({} if cfg.config == "tasks" else {"episode": cfg.seed}),
        "num_tasks": len(task_ids),
        "task_ids_hash": content_hash(task_ids),
        "code": _code_version(),
    }
    return write_split(Path(output), cfg.config, cfg.split, rows, provenance, append=append)


def _expert_rows(cfg: BuildConfig, task_ids: list[str]) -> list[dict[str, Any]]:
    from harness.envs import make_env
    from harness.policies import make_policy
    from harness.rollout import run_episodes

    trajectories = run_episodes(lambda: make_env(cfg.env, **cfg.env_kwargs), task_ids, make_policy(cfg.policy), seed=cfg.seed)
    return [trajectory_to_row(t) for t in trajectories]
