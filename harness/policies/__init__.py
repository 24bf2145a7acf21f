"""Policies: anything that answers a batch of episode histories with replies."""

from harness.policies.base import ContextOverflow, EpisodeView, Policy, Sampling, make_policy, sample_seed

__all__ = ["ContextOverflow", "EpisodeView", "Policy", "Sampling", "make_policy", "sample_seed"]
