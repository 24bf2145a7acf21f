"""Summary figures of a split, recorded in the manifest and shown on the data card."""

from __future__ import annotations

from collections import Counter
from typing import Any

from harness.data.schema import TRAJECTORY_CONFIGS


def _mean(values: list[float]) -> float | None:
    return round(sum(values) / len(values), 4) if values else None


def summarize(config: str, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """Figures a reader checks first: counts, and per config success, rewards or levels.

    Trajectories: success rate (final reward >= success threshold), mean final reward, mean steps,
    stop reasons. Step rewards: mean value. Pairs: pairs per level and mean reward margin.
    """
    out: dict[str, Any] = {"rows": len(rows)}
    if config in TRAJECTORY_CONFIGS:
        out["tasks"] = len({r["task_id"] for r in rows})
        out["success_rate"] = _mean([float(r["success"]) for r in rows])
        out["mean_final_reward"] = _mean([r["final_reward"] for r in rows])
        out["mean_steps"] = _mean([float(len(r["steps"])) for r in rows])
        out["stop_reasons"] = dict(sorted(Counter(r["stop_reason"] for r in rows).items()))
    elif config == "tasks":
        out["splits"] = dict(sorted(Counter(str(r["split"]) for r in rows).items()))
    elif config == "step_rewards":
        out["trajectories"] = len({r["trajectory_id"] for r in rows})
        out["mean_value"] = _mean([r["value"] for r in rows])
    elif config == "pairs":
        out["levels"] = dict(sorted(Counter(r["level"] for r in rows).items()))
        out["mean_margin"] = _mean([r["chosen_reward"] - r["rejected_reward"] for r in rows])
    return out
