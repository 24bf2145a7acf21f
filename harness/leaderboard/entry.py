"""Leaderboard entries: the comparability key, reading a submitted folder, and the entry record.

An entry is the evaluator's ``results.json`` plus its ``trajectories.jsonl``, the submission's
provenance and the comparability key (:class:`ComparabilityKey`) it is ranked under. Its id is a
content hash of the key, the result and the trajectory ids, so the same evaluation always gets the
same id; its seal (:mod:`harness.leaderboard.sealing`) covers everything else stored with it.
Every submitted file is read as hostile input (:mod:`harness.leaderboard.untrusted_input`).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import Any

from harness.leaderboard.escaping import terminal_text
from harness.leaderboard.untrusted_input import (
    UntrustedInputError,
    read_json_file,
    read_jsonl_file,
)
from harness.leaderboard.untrusted_rows import (
    MAX_METHOD_CHARS,
    check_recipe,
    check_result,
    label_problem,
)
from harness.types import Trajectory, content_hash

SCHEMA_VERSION = "2"
"""2: entries carry a ``seal`` over the whole record (1 had none; the project's entries were migrated)."""


class SubmissionRejected(ValueError):
    """A submission that cannot be accepted; ``reasons`` says every problem found, for people."""

    def __init__(self, source: str, reasons: list[str]):
        self.source = source
        self.reasons = reasons
        shown = reasons[:12]
        more = f"\n  ... and {len(reasons) - len(shown)} more" if len(reasons) > len(shown) else ""
        # reasons quote submitted text (task ids, names): made inert here, once, for the terminal
        lines = "\n".join(f"  - {terminal_text(r)}" for r in shown)
        super().__init__(f"submission {terminal_text(source)} rejected:\n{lines}{more}")


@dataclass(frozen=True)
class ComparabilityKey:
    """What must be equal for two results to be ranked together.

    ``env_version`` already encodes every reward- and observation-affecting choice of the
    environment (WebShop: rules/reward version, noun extractor, catalog content hash, price seed);
    ``split`` and ``task_ids_hash`` pin the eval set (its revision: the exact ordered task ids);
    ``max_steps`` the step budget and ``metrics_version`` the metric formulas.
    """

    env_id: str
    env_version: str
    split: str
    task_ids_hash: str
    n_tasks: int
    max_steps: int
    metrics_version: str

    @classmethod
    def from_result(cls, result: dict[str, Any]) -> ComparabilityKey:
        """The key a ``results.json`` (already schema-checked) declares."""
        prov = result["provenance"]
        return cls(
            env_id=result["env_id"],
            env_version=result["env_version"],
            split=result["split"],
            task_ids_hash=prov["task_ids_hash"],
            n_tasks=prov["n_tasks"],
            max_steps=prov["max_steps"],
            metrics_version=prov["metrics_version"],
        )

    @property
    def hash(self) -> str:
        """Content hash of the key (the folder entries of this key are stored under)."""
        return content_hash(asdict(self))

    def describe(self) -> str:
        """One line for headings: env, split, task count, step budget, version."""
        return (f"{self.env_id} · {self.split} · {self.n_tasks} tasks (ids {self.task_ids_hash[:8]}) · "
                f"max {self.max_steps} steps · env {self.env_version} · metrics v{self.metrics_version}")  # fmt: skip


@dataclass(frozen=True)
class Submission:
    """A folder as submitted: the evaluator's outputs and, for recipe stages, which run made them."""

    source: str
    result: dict[str, Any]
    trajectories: list[dict[str, Any]]
    recipe: dict[str, Any] | None
    method: str


def read_submission(folder: str | Path, method: str | None = None) -> Submission:
    """Read ``results.json`` and ``trajectories.jsonl`` from ``folder`` (a plain ``harness eval
    --output`` folder, or a recipe's ``runs/<recipe>/<run>/eval_*`` stage folder).

    Raises :class:`SubmissionRejected` when a file is missing, unreadable or breaks the results schema.
    """
    from harness.evaluation.evaluator import validate_results

    path = Path(folder)
    source = str(folder)
    if not path.is_dir():
        raise SubmissionRejected(source, [f"{path} is not a folder; submit the folder `harness eval --output` wrote"])
    missing = [n for n in ("results.json", "trajectories.jsonl") if not (path / n).exists() and not (path / n).is_symlink()]
    if missing:
        raise SubmissionRejected(source, [f"{path} has no {' and no '.join(missing)}; submit the folder `harness eval --output` wrote"])
    try:
        result = read_json_file(path / "results.json")
        if not isinstance(result, dict):
            raise UntrustedInputError(f"{path / 'results.json'} must hold a JSON object")
        validate_results(result)
        problems = check_result(result)
        trajectories, bad_lines = read_jsonl_file(path / "trajectories.jsonl")
    except (UntrustedInputError, ValueError) as e:
        raise SubmissionRejected(source, [str(e)]) from None
    problems += bad_lines
    problems += [f"trajectories.jsonl line {n}: a trajectory must be a JSON object" for n, row in enumerate(trajectories, 1)
                 if not isinstance(row, dict)]  # fmt: skip
    if not trajectories and not problems:
        problems.append("trajectories.jsonl holds no trajectory")
    try:
        recipe = _recipe_stage(path)
    except UntrustedInputError as e:
        problems.append(f"{e}; the run's manifests must be the JSON the recipe runner wrote")
        recipe = None
    if recipe is not None:
        problems += check_recipe(recipe)
    if problems:
        raise SubmissionRejected(source, problems)
    label = method or (recipe or {}).get("label") or result["policy"]
    if p := label_problem(label, MAX_METHOD_CHARS):
        problems.append(f"the method name {p} (set it with --method)")
    if problems:
        raise SubmissionRejected(source, problems)
    return Submission(source, result, trajectories, recipe, label)


def _recipe_stage(stage_dir: Path) -> dict[str, Any] | None:
    """Which recipe run made a ``runs/<recipe>/<run>/<stage>/`` folder (``None`` for other folders)."""
    resolved, manifest = stage_dir.parent / "recipe.resolved.json", stage_dir / "manifest.json"
    if stage_dir.parent.name == "_shared" and manifest.exists():  # stage 0, shared by recipes (runs/_shared/<stage>-<key>)
        stage = _object(manifest)
        return {"name": "stage0", "method": "sft", "preset": None, "config_hash": stage.get("config_hash", ""),
                "run_id": stage_dir.name, "stage": stage.get("stage", stage_dir.name), "label": stage.get("label")}  # fmt: skip
    if not (resolved.exists() and manifest.exists()):
        return None
    run, stage = _object(resolved), _object(manifest)
    recipe = run.get("recipe", {})
    if not isinstance(recipe, dict):
        raise UntrustedInputError(f"{resolved}: 'recipe' must be an object")
    return {
        "name": recipe.get("name", stage_dir.parent.parent.name),
        "method": recipe.get("method"),
        "preset": recipe.get("preset"),
        "config_hash": run.get("config_hash", ""),
        "run_id": stage_dir.parent.name,
        "stage": stage.get("stage", stage_dir.name),
        "label": stage.get("label"),
    }


def _object(path: Path) -> dict[str, Any]:
    value = read_json_file(path)
    if not isinstance(value, dict):
        raise UntrustedInputError(f"{path} must hold a JSON object")
    return value


def entry_id(key: ComparabilityKey, result: dict[str, Any], trajectory_ids: list[str]) -> str:
    """Content hash of what an entry claims: the same evaluation always gets the same id."""
    return content_hash({"key": asdict(key), "result": result, "trajectory_ids": trajectory_ids})


def build_entry(sub: Submission, verification: dict[str, Any], trajectories: list[Trajectory]) -> dict[str, Any]:
    """The entry record of a verified submission (see ``leaderboard/schema.json``).

    ``trajectories`` are the replayed episodes in eval-set order; they are stored in their
    canonical form (``Trajectory.to_dict``), which hashes to the same ids as the submitted rows.
    """
    key = ComparabilityKey.from_result(sub.result)
    ids = [t.id for t in trajectories]
    entry = {
        "schema_version": SCHEMA_VERSION,
        "entry_id": entry_id(key, sub.result, ids),
        "key_hash": key.hash,
        "key": asdict(key),
        "method": sub.method,
        "result": sub.result,
        "trajectories": [t.to_dict() for t in trajectories],
        "submission": {
            "submitted_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "source": sub.source,
            "recipe": sub.recipe,
            "trajectories_hash": content_hash(sorted(ids)),
            "verification": verification,
        },
    }
    from harness.leaderboard.sealing import seal

    entry = seal(entry)
    try:
        validate_entry(entry)
    except ValueError as e:
        raise SubmissionRejected(sub.source, [str(e)]) from None
    return entry


def entry_schema() -> dict[str, Any]:
    """The entry JSON Schema with the evaluator's results schema as ``$defs/result``."""
    from harness.evaluation.evaluator import results_schema

    schema = json.loads(resources.files("harness.leaderboard").joinpath("entry.schema.json").read_text())
    result = results_schema()
    result.pop("$schema", None)
    schema["$defs"]["result"] = result
    return schema


def validate_entry(entry: dict[str, Any], where: str = "entry") -> None:
    """Raise ``ValueError`` naming the first field of ``entry`` that breaks the entry schema."""
    import jsonschema

    try:
        jsonschema.validate(entry, entry_schema())
    except jsonschema.ValidationError as e:
        at = "/".join(str(p) for p in e.absolute_path) or "(top level)"
        raise ValueError(f"{where} is invalid at {at}: {e.message}") from None
