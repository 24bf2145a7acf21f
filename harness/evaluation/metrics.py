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


def episode_metrics(trajectories: Sequence[Trajectory]) -> dict[str, Metric]:
    """``avg_reward``, ``success_rate`` and ``avg_steps`` of a set of episodes (see module doc)."""
    return {
        "avg_reward": mean_with_ci([t.final_reward for t in trajectories]),
        "success_rate": mean_with_ci([float(t.success) for t in trajectories]),
        "avg_steps": mean_with_ci([float(len(t.steps)) for t in trajectories]),
    }
