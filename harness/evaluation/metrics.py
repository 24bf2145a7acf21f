"""Episode metrics, each with its sample size and a seeded 95% percentile-bootstrap interval.

Formulas (over the n evaluated episodes e_1..e_n with final reward r_o(e_i) and T_i steps):

- ``avg_reward``   = (1/n) * sum_i r_o(e_i)                    (IPR Table 2's "average reward")
- ``success_rate`` = (1/n) * sum_i [r_o(e_i) >= threshold]     (WebShop: r_o == 1; ALFWorld: won)
- ``avg_steps``    = (1/n) * sum_i T_i                         (a cheap proxy, never "action efficiency")

Intervals: 2,000 bootstrap resamples of the episodes (numpy, seed recorded), 2.5th and 97.5th
percentiles of the resampled means.
"""

from __future__ import annotations

from collections.abc import Sequence

from harness.types import Metric, Trajectory

METRICS_VERSION = "1"
BOOTSTRAP_RESAMPLES = 2000
BOOTSTRAP_SEED = 0


def mean_with_ci(values: Sequence[float], resamples: int = BOOTSTRAP_RESAMPLES, seed: int = BOOTSTRAP_SEED) -> Metric:
    """Mean of ``values`` with a 95% percentile-bootstrap interval (None bounds when n == 0)."""
    import numpy as np

    n = len(values)
    if n == 0:
        return Metric(value=float("nan"), n=0)
    arr = np.asarray(values, dtype=np.float64)
    rng = np.random.default_rng(seed)
    means = arr[rng.integers(0, n, size=(resamples, n))].mean(axis=1)
    low, high = np.percentile(means, [2.5, 97.5])
    return Metric(value=float(arr.mean()), n=n, ci_low=float(low), ci_high=float(high))


# Two-sided 95% Student-t quantiles t_{0.975, df} for df = 1..30 (standard table values).
_T975 = (12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.160, 2.145, 2.131,
         2.120, 2.110, 2.101, 2.093, 2.086, 2.080, 2.074, 2.069, 2.064, 2.060, 2.056, 2.052, 2.048, 2.045, 2.042)  # fmt: skip


def t_quantile_975(df: int) -> float:
    """t_{0.975, df}: the table above for df <= 30, beyond it the Cornish-Fisher expansion
    z + (z^3 + z) / (4 df) + (5z^5 + 16z^3 + 3z) / (96 df^2) with z = 1.959964 (error < 0.001)."""
    if df < 1:
        raise ValueError(f"a t quantile needs df >= 1, got {df}")
    if df <= len(_T975):
        return _T975[df - 1]
    z = 1.959964
    return z + (z**3 + z) / (4 * df) + (5 * z**5 + 16 * z**3 + 3 * z) / (96 * df**2)


def t_interval(values: Sequence[float]) -> Metric:
    """Mean of a few independent replicates (e.g. one number per training seed) with the 95% Student-t
    interval mean ± t_{0.975, n-1} * s / sqrt(n), s the sample sd. For n < 2 the bounds are None."""
    from statistics import mean, stdev

    n = len(values)
    if n == 0:
        return Metric(value=float("nan"), n=0)
    m = mean(values)
    if n < 2:
        return Metric(value=m, n=n)
    half = t_quantile_975(n - 1) * stdev(values) / n**0.5
    return Metric(value=m, n=n, ci_low=m - half, ci_high=m + half)


def episode_metrics(trajectories: Sequence[Trajectory]) -> dict[str, Metric]:
    """``avg_reward``, ``success_rate`` and ``avg_steps`` of a set of episodes (see module doc)."""
    return {
        "avg_reward": mean_with_ci([t.final_reward for t in trajectories]),
        "success_rate": mean_with_ci([float(t.success) for t in trajectories]),
        "avg_steps": mean_with_ci([float(len(t.steps)) for t in trajectories]),
    }
