"""Publishing a stage's rows as a versioned dataset (local registry by default, the Hub on request).

Each recipe run publishes to ``<repo_prefix>/<recipe>`` (e.g. ``harness/ipr-webshop``); shared
stage-0 data (the expert trajectories, used by every method) goes to ``<repo_prefix>/<env>-stage0``
tagged by the stage's key. Configs are
artifact types (``expert_trajectories``, ``explored_trajectories``, ``step_rewards``, ``pairs``),
splits name the stage (``train``, ``iter1``...), and each publish is tagged with the run id, the
stage and the first 12 hex digits of the data's content hash, so others can download exactly these
pairs by revision. The hash in the tag is what makes re-publishing safe: the registry is shared by
every checkout on a machine, and the same run id can yield different data (another code version,
another catalog), which gets a tag of its own instead of failing or moving an existing tag. The same
data gets the same tag, so a run resumed after a kill reuses its publish.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from harness.pipeline.runner import Run

TRAJECTORY_CONFIGS = ("expert_trajectories", "explored_trajectories")


def _rows_for(config: str, rows: list[dict[str, Any]], expert_ids: dict[str, str] | None = None) -> list[dict[str, Any]]:
    from harness.data.rows import (
        pair_from_row,
        pair_to_row,
        step_reward_from_row,
        step_reward_to_row,
        trajectory_to_row,
    )
    from harness.types import Trajectory

    if config == "explored_trajectories":
        if expert_ids is None:
            raise ValueError("explored trajectories are published with the id of the expert trajectory they explored")
        return [trajectory_to_row(Trajectory.from_dict(r), expert_id=expert_ids[r["task_id"]]) for r in rows]
    if config in TRAJECTORY_CONFIGS:
        return [trajectory_to_row(Trajectory.from_dict(r)) for r in rows]
    if config == "step_rewards":
        return [step_reward_to_row(step_reward_from_row(r)) for r in rows]
    if config == "pairs":
        return [pair_to_row(pair_from_row(r)) for r in rows]
    raise ValueError(f"no publishing rule for config '{config}'")


def publish_rows(
    run: Run, stage_folder: Path, config: str, split: str, rows: list[dict[str, Any]], expert_ids: dict[str, str] | None = None,
    shared: bool = False,
) -> dict[str, Any]:  # fmt: skip
    """Write ``rows`` as ``config/split`` in ``stage_folder/dataset`` and publish it with a data card.

    ``expert_ids`` maps task id -> expert trajectory id (needed for explored trajectories);
    ``shared``: the stage is a shared stage-0 stage (published under the environment, not the recipe)."""
    from harness.data.folder import write_split
    from harness.data.registries import make_registry

    recipe = run.recipe
    folder = stage_folder / "dataset"
    provenance = {
        "recipe": recipe.name,
        "preset": recipe.preset,
        "run_id": run.run_id,
        "config_hash": run.config_hash,
        "seed": recipe.seed,
        "command": f"harness reproduce {recipe.name} --preset {recipe.preset}",
    }
    entry = write_split(folder, config, split, _rows_for(config, rows, expert_ids), provenance)
    repo = f"{recipe.data.repo_prefix}/{recipe.env.id}-stage0" if shared else f"{recipe.data.repo_prefix}/{recipe.name}"
    # the stage's path inside the run (iter1/explore, iter2/explore, ...) keeps iterations apart
    stage = stage_folder.name if shared else stage_folder.resolve().relative_to(run.root.resolve()).as_posix()
    name = f"{stage}-{config}-{split}" if shared else f"{run.run_id}-{stage}-{config}-{split}"
    tag = re.sub(r"[^A-Za-z0-9_.+-]", "-", f"{name}-{entry['content_hash'][:12]}")
    registry = make_registry(recipe.data.registry)
    out = {"repo": repo, "tag": tag, "content_hash": entry["content_hash"], "rows": entry["num_rows"]}
    existing = _already_published(registry, repo, tag, f"{config}/{split}")
    if existing is not None:  # published before (a resumed run, or the same run in another checkout)
        if existing != entry["content_hash"]:  # a 48-bit prefix collision or a hand-edited registry
            raise ValueError(f"{repo}@{tag}: the registry holds {config}/{split} data of hash {existing}, "
                             f"not {entry['content_hash']}: it was changed outside harness; publish under a new --run-id")
        return {**out, "commit": registry.resolve(repo, tag), "reused": True}
    published = registry.publish(folder, repo, tag=tag)
    return {**out, "commit": published.commit}


def _already_published(registry: Any, repo: str, tag: str, key: str) -> str | None:
    """The content hash of ``key`` at ``repo@tag`` when that tag exists, else None."""
    import json

    from harness.data.errors import DataError

    try:
        if tag not in registry.info(repo).tags:
            return None
        manifest = json.loads(registry.read_text(repo, "manifest.json", revision=tag))
    except DataError:
        return None
    return manifest["splits"].get(key, {}).get("content_hash")
