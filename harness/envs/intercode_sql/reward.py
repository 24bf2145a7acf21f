"""InterCode-SQL's reward: multiset IoU of result rows, scaled by Kendall's tau of their order.

Same formula as InterCode's ``SqlEnv.get_reward`` (Yang et al. 2023), re-implemented here (no scipy).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence

REWARD_VERSION = "iou-tau-v1"


def kendall_tau_b(x: Sequence[str], y: Sequence[str]) -> float:
    """Kendall's tau-b between paired sequences, values ordered as strings; NaN when undefined.

    tau_b = (C - D) / sqrt((n0 - n1) * (n0 - n2)), with C/D the concordant/discordant pairs,
    n0 = n(n-1)/2 and n1, n2 the pairs tied in x, in y. O(n log n) (Knight's algorithm); matches
    ``scipy.stats.kendalltau`` (variant b), which InterCode calls on the stringified rows.
    """
    n = len(x)
    if n != len(y):
        raise ValueError(f"kendall_tau_b needs sequences of equal length, got {n} and {len(y)}")
    if n < 2:
        return math.nan
    rank_x = {v: i for i, v in enumerate(sorted(set(x)))}
    rank_y = {v: i for i, v in enumerate(sorted(set(y)))}
    pairs = sorted((rank_x[a], rank_y[b]) for a, b in zip(x, y))
    total = n * (n - 1) // 2
    x_ties = sum(c * (c - 1) // 2 for c in Counter(p[0] for p in pairs).values())
    y_ties = sum(c * (c - 1) // 2 for c in Counter(p[1] for p in pairs).values())
    joint_ties = sum(c * (c - 1) // 2 for c in Counter(pairs).values())
    if x_ties == total or y_ties == total:
        return math.nan
    discordant = _count_inversions([p[1] for p in pairs])
    concordant = total - x_ties - y_ties + joint_ties - discordant
    tau = (concordant - discordant) / math.sqrt(total - x_ties) / math.sqrt(total - y_ties)
    return min(1.0, max(-1.0, tau))


def _count_inversions(values: list[int]) -> int:
    """Pairs i < j with values[i] > values[j] (equal values are not inversions); merge sort."""
    count, width, items = 0, 1, list(values)
    n = len(items)
    while width < n:
        merged = []
        for lo in range(0, n, 2 * width):
            left, right = items[lo : lo + width], items[lo + width : lo + 2 * width]
            i = j = 0
            while i < len(left) and j < len(right):
                if right[j] < left[i]:
                    merged.append(right[j])
                    count += len(left) - i
                    j += 1
                else:
                    merged.append(left[i])
                    i += 1
            merged.extend(left[i:])
            merged.extend(right[j:])
        items, width = merged, width * 2
    return count


def _shared_in_order(rows: list[str], shared: Counter) -> list[str]:
    """``rows`` restricted to the multiset ``shared``, keeping their order (first occurrences)."""
    left, out = Counter(shared), []
    for r in rows:
        if left[r] > 0:
            left[r] -= 1
            out.append(r)
    return out


def sql_reward(agent_rows: Sequence[tuple] | None, gold_rows: Sequence[tuple] | None) -> float:
    """Reward of submitting ``agent_rows`` (the last query's result) against ``gold_rows``.

    Rows are compared as strings (``str(row)``). With A, G the two multisets of rows:
    IoU = |A ∩ G| / |A ∪ G| (multiset intersection = min counts, union = max counts); both empty -> 1.
    If they share rows, reward = round(tau_b(shared rows in agent order, in gold order) * IoU, 2)
    when tau_b is defined, else IoU. The reward is 0 when either side is not a result set (an
    error, a statement without rows, or no query at all). It can be negative (reversed order).
    """
    if agent_rows is None or gold_rows is None:
        return 0.0
    agent, gold = [str(tuple(r)) for r in agent_rows], [str(tuple(r)) for r in gold_rows]
    count_a, count_g = Counter(agent), Counter(gold)
    union = count_a | count_g
    if not union:
        return 1.0
    shared = count_a & count_g
    reward = sum(shared.values()) / sum(union.values())
    if shared:
        tau = kendall_tau_b(_shared_in_order(agent, shared), _shared_in_order(gold, shared))
        if not math.isnan(tau):
            reward = round(tau * reward, 2)
    return reward
