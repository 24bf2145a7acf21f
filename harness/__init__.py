"""harness: environments, datasets, recipes and a leaderboard for step-level agent training."""

__version__ = "0.1.0"
