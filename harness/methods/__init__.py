"""The methods a recipe can name (``method:``), one module each, found by name in a lazy registry.

| method | one iteration (METHODS.md) |
|---|---|
| ``sft`` | none: stage 0 alone (``iterations: 0``) |
| ``ipr`` | explore every expert prefix -> MC step rewards -> outcome + step pairs -> DPO + NLL |
| ``eto`` | the agent's own episodes -> expert-vs-failure trajectory pairs -> DPO (reference = current) |
| ``rft`` | the agent's own sampled episodes -> keep the successful -> SFT on expert + kept |
| ``stepagent-implicit`` | inspection -> (expert action, agent action) pairs -> step-level DPO |
| ``stepagent-inverse`` | inspection -> discriminator -> KL-regularised policy gradient on its reward |
"""

from __future__ import annotations

from harness.methods.base import SHARED_SECTIONS, Method
from harness.registry import NameRegistry

METHODS: NameRegistry[Method] = NameRegistry("method")
METHODS.add("sft", "harness.methods.sft:METHOD", "supervised fine-tuning on expert trajectories (stage 0 alone)")
METHODS.add("ipr", "harness.methods.ipr:METHOD", "IPR: step-level Monte-Carlo rewards, outcome + step pairs, DPO + NLL")
METHODS.add("eto", "harness.methods.eto:METHOD", "ETO: expert-vs-failure trajectory pairs, iterative DPO")
METHODS.add("rft", "harness.methods.rft:METHOD", "RFT: SFT on expert plus the agent's successful episodes")
METHODS.add("stepagent-implicit", "harness.methods.stepagent_implicit:METHOD", "StepAgent: step-level DPO, expert over agent actions")
METHODS.add("stepagent-inverse", "harness.methods.stepagent_inverse:METHOD", "StepAgent: discriminator reward + policy gradient")


def get_method(name: str) -> Method:
    """The method called ``name``; an unknown name is an error listing the known ones (with a guess)."""
    return METHODS.get(name)


__all__ = ["METHODS", "SHARED_SECTIONS", "Method", "get_method"]
