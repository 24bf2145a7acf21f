"""IPR/ETO's FastChat JSON to and from trajectory rows.

The format: a JSON list of ``{"id": ..., "conversations": [{"from": "human"|"gpt", "value": ...}]}``.
A conversation is read as the papers write it: the task description (human), the model's
acknowledgement (gpt, "OK"), the first observation (human), then alternating replies (gpt,
``Thought: ...\\nAction: ...``) and observations (human, ``Observation:\\n...``), usually ending
with the last reply.

Exporting a trajectory writes the same shape (our task description for built trajectories) and
stops at the last reply, like the papers' SFT files. Importing keeps what the format has and a
trajectory lacks in the row's ``extra`` column (the original id and its type, the first two turns,
other record keys, turns that do not start with ``Observation:\\n``), so FastChat JSON -> dataset
-> FastChat JSON gives back the same JSON. Rewards are unknown unless a record carries ``reward``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from harness.data.errors import DataError, SchemaError
from harness.data.rows import row_extra, trajectory_from_row, trajectory_to_row
from harness.prompting import build_messages, observation_turn, parse_react
from harness.types import Step, Trajectory

OBS_PREFIX = observation_turn("")
IMPORTED_POLICY = "fastchat-import"
_ROLES = {"human": "user", "gpt": "assistant"}
_INSTRUCTION = re.compile(r"Instruction:\s*\[SEP\]\s*(.*?)\s*\[SEP\]", re.DOTALL)


def read_fastchat(path: Path) -> list[dict[str, Any]]:
    """Load and check a FastChat JSON file (a list of records); errors name the record and turn."""
    try:
        records = json.loads(Path(path).read_text(encoding="utf-8"))
    except json.JSONDecodeError as e:
        raise DataError(f"{path} is not valid JSON ({e}); expected a FastChat list of {{id, conversations}}") from None
    if not isinstance(records, list):
        raise SchemaError(f"{path} must hold a JSON list of records, got {type(records).__name__}")
    for i, rec in enumerate(records):
        _check_record(rec, f"record {i} of {path}")
    return records


def _check_record(rec: Any, where: str) -> None:
    if not isinstance(rec, dict) or "id" not in rec or not isinstance(rec.get("conversations"), list):
        raise SchemaError(f"{where} is not a FastChat record: it needs 'id' and a 'conversations' list")
    turns = rec["conversations"]
    if len(turns) < 3:
        raise SchemaError(
            f"{where} (id {rec['id']!r}) has {len(turns)} turns; need task description, acknowledgement, observation"
        )
    for j, turn in enumerate(turns):
        if not isinstance(turn, dict) or set(turn) != {"from", "value"} or not isinstance(turn["value"], str):
            raise SchemaError(f'turn {j} of {where} (id {rec["id"]!r}) must be exactly {{"from", "value"}} with a string value')
        expected = "human" if j % 2 == 0 else "gpt"
        if turn["from"] != expected:
            raise SchemaError(
                f"turn {j} of {where} (id {rec['id']!r}) is from '{turn['from']}', expected '{expected}' "
                "(turns alternate, human first)"
            )


def _split_observation(value: str) -> tuple[str, bool]:
    """(observation text, whether the turn had the canonical ``Observation:\\n`` prefix)."""
    return (value[len(OBS_PREFIX) :], True) if value.startswith(OBS_PREFIX) else (value, False)


def record_to_row(rec: dict[str, Any], env_id: str, env_version: str = "unknown") -> dict[str, Any]:
    """One FastChat record as an ``expert_trajectories`` row (see the module docstring)."""
    _check_record(rec, f"record {rec.get('id')!r}")
    turns = rec["conversations"]
    observations = [turns[k]["value"] for k in range(2, len(turns), 2)]
    replies = [turns[k]["value"] for k in range(3, len(turns), 2)]
    parsed = [_split_observation(v) for v in observations]
    ends_with_reply = len(turns) % 2 == 0
    steps = []
    for k, text in enumerate(replies):
        obs = parsed[k + 1][0] if k + 1 < len(parsed) else ""
        steps.append(Step(text=text, action=parse_react(text)[1], observation=obs))
    m = _INSTRUCTION.search(parsed[0][0])
    reward = rec.get("reward")
    traj = Trajectory(
        env_id=env_id,
        env_version=env_version,
        task_id=str(rec["id"]),
        instruction=m.group(1) if m else "",
        initial_observation=parsed[0][0],
        steps=tuple(steps),
        final_reward=float(reward) if isinstance(reward, int | float) else 0.0,
        stop_reason="done",
        policy=IMPORTED_POLICY,
    )
    extra = {
        "fastchat": {
            "id": rec["id"],
            "prefix": turns[:2],
            "keys": {k: v for k, v in rec.items() if k not in ("id", "conversations")},
            "key_order": list(rec),
            "ends_with_reply": ends_with_reply,
            "verbatim_observations": [k for k, (_, canonical) in enumerate(parsed) if not canonical],
        },
        "reward_known": isinstance(reward, int | float),
    }
    return trajectory_to_row(traj, extra=extra)


def fastchat_to_rows(records: list[dict[str, Any]], env_id: str, env_version: str = "unknown") -> list[dict[str, Any]]:
    """FastChat records as ``expert_trajectories`` rows, in order."""
    return [record_to_row(rec, env_id, env_version) for rec in records]


def row_to_record(row: dict[str, Any]) -> dict[str, Any]:
    """A trajectory row as a FastChat record: the papers' turns, ending with the last reply."""
    fc = row_extra(row).get("fastchat") or {}
    traj = trajectory_from_row(row)
    if "prefix" in fc:
        prefix = [dict(t) for t in fc["prefix"]]
    else:
        msgs = build_messages(traj.env_id, traj.initial_observation)[:2]
        prefix = [{"from": "human" if m["role"] == "user" else "gpt", "value": m["content"]} for m in msgs]
    verbatim = set(fc.get("verbatim_observations", []))

    def obs_turn(k: int, text: str) -> dict[str, str]:
        return {"from": "human", "value": text if k in verbatim else OBS_PREFIX + text}

    turns = prefix + [obs_turn(0, traj.initial_observation)]
    for k, step in enumerate(traj.steps):
        turns.append({"from": "gpt", "value": step.text})
        last = k == len(traj.steps) - 1
        if not last or fc.get("ends_with_reply") is False:
            turns.append(obs_turn(k + 1, step.observation))
    values = {"id": fc.get("id", row["id"]), "conversations": turns, **fc.get("keys", {})}
    order = fc.get("key_order", ["id", "conversations"])
    return {k: values[k] for k in order} | {k: v for k, v in values.items() if k not in order}


def rows_to_fastchat(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Trajectory rows as FastChat records, in order."""
    return [row_to_record(r) for r in rows]


def write_fastchat(records: list[dict[str, Any]], path: Path) -> Path:
    """Write FastChat records as JSON (2-space indent, UTF-8 kept, trailing newline)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(records, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def to_chat_messages(record: dict[str, Any]) -> list[dict[str, str]]:
    """A FastChat record's turns as chat messages (``user``/``assistant`` roles)."""
    return [{"role": _ROLES[t["from"]], "content": t["value"]} for t in record["conversations"]]
