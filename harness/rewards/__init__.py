"""Step rewards: Monte-Carlo estimates with a scorer policy (IPR), and the metrics built on them."""

from harness.rewards.monte_carlo import ActionEfficiency, action_efficiency, step_rewards

__all__ = ["ActionEfficiency", "action_efficiency", "step_rewards"]
