"""Rank intervals from a paired bootstrap over the tasks of an eval set.

Entries of one eval set ran the same tasks, so their per-task rewards are paired. A point ranking by
average reward gives distinct ranks to entries whose difference is well inside the noise of the task
sample; the rank interval says which ranks the data supports. Computation (seeded, deterministic):
B = 2,000 times, draw n task indices with replacement (the same draw for every entry: that is the
pairing, and it keeps the correlation of a task's difficulty across entries), average each entry's
rewards over the drawn tasks and rank the entries (rank = 1 + the number of entries with a strictly
higher average, so ties share the better rank). An entry's 95% rank interval is the 2.5th and 97.5th
percentiles of its B ranks. Entries whose intervals are both [1, 1] and the like are distinguishable
from the rest; overlapping intervals mean the order between them is not established by these tasks.
The intervals hold for each entry separately (not simultaneously for all), and they cover task
sampling only, not training seeds.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.evaluation.metrics import BOOTSTRAP_RESAMPLES, BOOTSTRAP_SEED


def point_ranks(means: Sequence[float]) -> list[int]:
    """Competition ranks of ``means`` (higher is better; equal means share the better rank: 1, 2, 2, 4)."""
    return [1 + sum(other > m for other in means) for m in means]


def rank_intervals(per_task: Sequence[dict[str, float]], resamples: int = BOOTSTRAP_RESAMPLES,
                   seed: int = BOOTSTRAP_SEED) -> list[tuple[int, int]]:  # fmt: skip
    """The 95% paired-bootstrap rank interval (low, high) of each entry, from each entry's per-task
    rewards (every entry must cover the same tasks; see the module docstring for the formula)."""
    import numpy as np

    if not per_task:
        return []
    tasks = sorted(per_task[0])
    if any(sorted(p) != tasks for p in per_task):
        raise ValueError("rank intervals need every entry on the same tasks (one eval set)")
    rewards = np.array([[p[t] for t in tasks] for p in per_task], dtype=np.float64)  # entries x tasks
    rng = np.random.default_rng(seed)
    draws = rng.integers(0, len(tasks), size=(resamples, len(tasks)))
    means = rewards[:, draws].mean(axis=2)  # entries x resamples
    ranks = 1 + (means[None, :, :] > means[:, None, :]).sum(axis=1)  # entries x resamples
    low = np.percentile(ranks, 2.5, axis=1, method="lower")
    high = np.percentile(ranks, 97.5, axis=1, method="higher")
    return [(int(a), int(b)) for a, b in zip(low, high, strict=True)]
