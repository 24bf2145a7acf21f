"""Interval helpers of harness.evaluation.metrics: the Student-t interval over seed replicates."""

from __future__ import annotations

import statistics

import pytest

from harness.evaluation.metrics import t_interval, t_quantile_975


def test_t_interval_of_seed_replicates_uses_student_t_with_n_minus_1_df():
    values = [0.005, 0.031, 0.053, -0.010, 0.026]
    m = t_interval(values)
    half = 2.776 * statistics.stdev(values) / 5**0.5  # t_{0.975, 4}
    assert m.n == 5 and m.value == pytest.approx(statistics.mean(values))
    assert (m.ci_low, m.ci_high) == (pytest.approx(m.value - half), pytest.approx(m.value + half))
    assert m.ci_low < 0 < m.value  # five small positive-leaning seeds: the interval still contains 0
    assert t_interval([0.3]).ci_low is None and t_interval([]).n == 0


def test_t_quantile_table_and_expansion_agree_at_the_seam():
    assert t_quantile_975(1) == 12.706 and t_quantile_975(30) == 2.042
    assert abs(t_quantile_975(31) - 2.040) < 0.001 and abs(t_quantile_975(120) - 1.980) < 0.001
    assert t_quantile_975(31) < t_quantile_975(30)
    with pytest.raises(ValueError, match="df >= 1"):
        t_quantile_975(0)
