"""Policies: anything that answers a batch of episode histories with replies."""

from harness.policies.base import EpisodeView, Policy, Sampling, make_policy

__all__ = ["EpisodeView", "Policy", "Sampling", "make_policy"]
