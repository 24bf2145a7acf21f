"""Schema checks of submitted (or stored) values, field by field, before anything uses them.

JSON Schema alone lets through what later code trips over: ``1.0`` where an integer is meant
(``4.0 == 4`` passes a comparison yet hashes to another comparability key), a boolean where a
number is meant, a step that is a string, a name holding a newline or a terminal escape. These
checks return a problem per bad field, naming the field and the fix, so the verifier never meets
a value of the wrong type. Numbers are finite already (:mod:`harness.leaderboard.untrusted_input`
refuses NaN and infinities at parse time); they are checked again here because a
:class:`~harness.leaderboard.entry.Submission` may also be built in code.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Callable
from typing import Any

from harness.evaluation.metrics import METRICS_VERSION

ACCEPTED_METRICS_VERSIONS = frozenset({METRICS_VERSION})
"""The metric formulas this leaderboard recomputes; results of any other version are refused."""
MAX_LABEL_CHARS = 300
"""Names, labels, ids and versions (one line, no control characters)."""
MAX_METHOD_CHARS = 120
MAX_TEXT_CHARS = 1_000_000
"""Replies, observations and instructions (multi-line text)."""
MAX_STEPS = 1_000
STOP_REASONS = ("done", "max_steps", "invalid_format", "context_overflow")
_HEX16 = re.compile(r"[0-9a-f]{16}")

Check = Callable[[Any], str | None]


def _kind(v: Any) -> str:
    return "null" if v is None else {bool: "a boolean", int: "an integer", float: "a number", str: "a string",
                                     list: "a list", dict: "an object"}.get(type(v), type(v).__name__)  # fmt: skip


def label_problem(
    value: Any, limit: int = MAX_LABEL_CHARS, empty: bool = False
) -> str | None:
    """Why ``value`` is not a one-line printable name of at most ``limit`` characters (``None`` if it is)."""
    if not isinstance(value, str):
        return f"must be a string, not {_kind(value)}"
    if not value.strip() and not empty:
        return "must not be empty"
    if len(value) > limit:
        return f"is {len(value):,} characters long (at most {limit})"
    bad = next(
        (c for c in value if unicodedata.category(c) in ("Cc", "Cf", "Cs", "Zl", "Zp")),
        None,
    )
    if bad is not None:
        return f"contains the control character U+{ord(bad):04X}; use one line of plain printable text"
    return None


def _text(v: Any) -> str | None:
    if not isinstance(v, str):
        return f"must be a string, not {_kind(v)}"
    return (
        f"is {len(v):,} characters long (at most {MAX_TEXT_CHARS:,})"
        if len(v) > MAX_TEXT_CHARS
        else None
    )


def _number(v: Any) -> str | None:
    ok = type(v) in (int, float) and math.isfinite(v)
    return None if ok else f"must be a finite number, not {_kind(v)} ({v!r:.40})"


def _int(minimum: int) -> Check:
    return lambda v: (
        None
        if type(v) is int and v >= minimum
        else f"must be an integer >= {minimum}, not {_kind(v)} ({v!r:.40})"
    )


def _optional(check: Check) -> Check:
    return lambda v: None if v is None else check(v)


def _of_type(t: type, name: str) -> Check:
    return lambda v: None if type(v) is t else f"must be {name}, not {_kind(v)}"


def _hex16(v: Any) -> str | None:
    return (
        None
        if isinstance(v, str) and _HEX16.fullmatch(v)
        else "must be a 16-digit lowercase hex content hash"
    )


def _stop_reason(v: Any) -> str | None:
    return None if v in STOP_REASONS else f"must be one of {', '.join(STOP_REASONS)}"


STEP_FIELDS: dict[str, Check] = {"text": _text, "action": _optional(_text), "observation": _text, "reward": _number,
                                 "done": _of_type(bool, "true or false"), "info": _of_type(dict, "an object")}  # fmt: skip
TRAJECTORY_REQUIRED: dict[str, Check] = {
    "id": _hex16, "env_id": label_problem, "env_version": label_problem, "task_id": label_problem,
    "instruction": _text, "initial_observation": _text, "steps": _of_type(list, "a list of steps"),
    "final_reward": _number, "stop_reason": _stop_reason,
}  # fmt: skip
TRAJECTORY_OPTIONAL: dict[str, Check] = {"policy": lambda v: label_problem(v, empty=True), "seed": _optional(_int(-(2**63))),
                                         "success_threshold": _number, "prefix_steps": _int(0),
                                         "success": _of_type(bool, "true or false")}  # fmt: skip


def _fields(
    obj: Any, required: dict[str, Check], optional: dict[str, Check], where: str
) -> list[str]:
    if not isinstance(obj, dict):
        return [f"{where} must be an object, not {_kind(obj)}"]
    problems = [f"{where} lacks '{k}'" for k in required if k not in obj]
    problems += [
        f"{where} has an unknown field '{k:.40}'"
        for k in obj
        if k not in required and k not in optional
    ]
    for k, check in (required | optional).items():
        if k in obj and (p := check(obj[k])):
            problems.append(f"{where}: '{k}' {p}")
    return problems


def check_trajectory_row(row: Any, where: str) -> list[str]:
    """Every problem of one trajectory record (a ``trajectories.jsonl`` line or a stored trajectory)."""
    problems = _fields(row, TRAJECTORY_REQUIRED, TRAJECTORY_OPTIONAL, where)
    steps = row.get("steps") if isinstance(row, dict) else None
    if isinstance(steps, list):
        if len(steps) > MAX_STEPS:
            return [
                *problems,
                f"{where} has {len(steps):,} steps (at most {MAX_STEPS:,})",
            ]
        for i, step in enumerate(steps, 1):
            problems += _fields(step, STEP_FIELDS, {}, f"{where} step {i}")
    return problems


def check_result(result: dict[str, Any]) -> list[str]:
    """Every problem of a ``results.json`` that already passed the evaluator's JSON Schema: exact
    types, finite numbers, printable names and a metrics version this leaderboard computes."""
    problems = []
    for k in ("env_id", "env_version", "split", "policy"):
        if p := label_problem(result[k]):
            problems.append(f"results.json: '{k}' {p}")
    prov = result["provenance"]
    version = prov["metrics_version"]
    if version not in ACCEPTED_METRICS_VERSIONS:
        shown = version if label_problem(version) is None else "(unprintable)"
        problems.append(f"results.json: metrics_version {shown!r:.60} is not one this leaderboard computes "
                        f"(accepted: {', '.join(sorted(ACCEPTED_METRICS_VERSIONS))}); re-evaluate with this harness")  # fmt: skip
    checks = {"n_tasks": _int(1), "max_steps": _int(1), "seed": _int(-(2**63)), "task_ids_hash": label_problem,
              "limit": _optional(_int(1)), "wall_time_s": _number}  # fmt: skip
    for k, check in checks.items():
        if (k in prov or k != "limit") and (p := check(prov.get(k))):
            problems.append(f"results.json: provenance '{k}' {p}")
    for name, m in result["metrics"].items():
        for k, check in (
            ("value", _number),
            ("n", _int(0)),
            ("ci_low", _optional(_number)),
            ("ci_high", _optional(_number)),
        ):
            if p := check(m.get(k)):
                problems.append(f"results.json: metric '{name:.40}' {k} {p}")
    for task_id, reward in result["per_task"].items():
        if (p := label_problem(task_id)) or (p := _number(reward)):
            problems.append(f"results.json: per_task entry {task_id!r:.60} {p}")
            break
    return problems


def check_recipe(recipe: Any) -> list[str]:
    """Problems of the recipe record read from a run folder's manifests (names shown on the board)."""
    if not isinstance(recipe, dict):
        return [f"the recipe manifests must hold objects, not {_kind(recipe)}"]
    problems = []
    for k, v in recipe.items():
        if v is not None and (p := label_problem(v, empty=True)):
            problems.append(f"recipe manifest field '{k}' {p}")
    return problems
