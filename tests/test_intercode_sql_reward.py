"""InterCode-SQL's reward: multiset IoU of result rows times Kendall's tau of their order."""

from __future__ import annotations

import itertools
import math
import random

import pytest

from harness.envs.intercode_sql.reward import kendall_tau_b, sql_reward


def brute_force_tau_b(x, y):
    """Kendall's tau-b by counting every pair (the textbook definition)."""
    pairs = list(itertools.combinations(range(len(x)), 2))
    conc = disc = ties_x = ties_y = 0
    for i, j in pairs:
        dx = (x[i] > x[j]) - (x[i] < x[j])
        dy = (y[i] > y[j]) - (y[i] < y[j])
        ties_x += dx == 0
        ties_y += dy == 0
        conc += dx * dy > 0
        disc += dx * dy < 0
    n0 = len(pairs)
    if n0 == 0 or ties_x == n0 or ties_y == n0:
        return math.nan
    return (conc - disc) / math.sqrt(n0 - ties_x) / math.sqrt(n0 - ties_y)


def test_same_rows_in_the_same_order_score_one():
    rows = [("Paris", 3), ("Rome", 2), ("Oslo", 1)]
    assert sql_reward(rows, list(rows)) == 1.0


def test_both_results_empty_score_one_and_no_result_scores_zero():
    assert sql_reward([], []) == 1.0
    assert sql_reward(None, [("a",)]) == 0.0  # the last query failed, or there was none
    assert sql_reward([], None) == 0.0  # the gold query failed on this engine


def test_partial_overlap_is_intersection_over_union():
    # agent {a, b}, gold {b, c, d}: shared {b} -> IoU 1/4; one shared row: tau undefined, IoU kept as is
    assert sql_reward([("a",), ("b",)], [("b",), ("c",), ("d",)]) == 0.25


def test_duplicates_count_as_a_multiset():
    # agent a,a,b vs gold a,b: intersection 2 (a, b), union 3 (a twice, b) -> 2/3, same order -> tau 1
    assert sql_reward([("a",), ("a",), ("b",)], [("a",), ("b",)]) == 0.67


def test_order_matters_even_without_order_by_and_can_go_negative():
    gold = [("a",), ("b",), ("c",)]
    assert sql_reward(list(reversed(gold)), gold) == -1.0
    assert sql_reward([("b",), ("a",), ("c",)], gold) == 0.33


def test_rows_compare_as_their_python_text():
    assert sql_reward([(1,)], [("1",)]) == 0.0  # "(1,)" is not "('1',)", as in InterCode
    assert sql_reward([[1, "x"]], [(1, "x")]) == 1.0  # lists and tuples print the same once made tuples


def test_kendall_tau_matches_the_pairwise_definition():
    rng = random.Random(0)
    for _ in range(400):
        n, k = rng.randint(0, 12), rng.randint(1, 5)
        x = [str(rng.randint(0, k)) for _ in range(n)]
        y = [str(rng.randint(0, k)) for _ in range(n)] if rng.random() < 0.5 else rng.sample(x, n)
        fast, slow = kendall_tau_b(x, y), brute_force_tau_b(x, y)
        assert (math.isnan(fast) and math.isnan(slow)) or fast == pytest.approx(slow, abs=1e-12)


def test_kendall_tau_rejects_unpaired_sequences():
    with pytest.raises(ValueError, match="equal length"):
        kendall_tau_b(["a"], ["a", "b"])
