"""Policies: anything that answers a batch of episode histories with replies."""

from harness.policies.base import ContextOverflow, EpisodeView, Policy, Sampling, sample_seed
from harness.policies.specs import make_policy

__all__ = ["ContextOverflow", "EpisodeView", "Policy", "Sampling", "make_policy", "sample_seed"]
