"""Scripted policies: the environment's oracle expert, a uniform random agent, and fixed replay.

They are the test doubles that make the whole pipeline hermetic, and the expert is the source of
the expert-trajectory datasets.
"""

from __future__ import annotations

import random
from collections.abc import Sequence

from harness.policies.base import EpisodeView, Sampling
from harness.prompting import format_react


def episode_rng(view: EpisodeView, salt: str) -> random.Random:
    """A generator seeded by (salt, episode seed, task id, step): replies re-run identically."""
    return random.Random(f"{salt}:{view.seed}:{view.task.task_id}:{view.step_index}")


class ExpertPolicy:
    """The environment's oracle (privileged: reads the goal); wording of thoughts varies by seed."""

    name = "expert"

    def act(self, episodes: Sequence[EpisodeView], sampling: Sampling = Sampling()) -> list[str]:
        """One oracle reply per episode."""
        out = []
        for v in episodes:
            if not hasattr(v.env, "expert_reply"):
                raise ValueError(f"environment '{v.task.env_id}' has no scripted expert")
            thought, action = v.env.expert_reply(episode_rng(v, "expert"))
            out.append(format_react(thought, action))
        return out


class RandomPolicy:
    """Uniformly random valid-looking actions: a search of instruction words, or any available action."""

    name = "random"

    def act(self, episodes: Sequence[EpisodeView], sampling: Sampling = Sampling()) -> list[str]:
        """One random reply per episode."""
        out = []
        for v in episodes:
            rng = episode_rng(v, "random")
            avail = v.env.available_actions()
            clicks = [c for c in avail.clickables if c != "search"]
            # WebShop wraps clickables as click[...]; ALFWorld and InterCodeSQL play them as whole commands.
            fmt = getattr(v.env, "click_format", "click[{}]")
            if fmt == "click[{}]" and (avail.has_search_bar or not clicks):
                words = v.task.instruction.split()
                action = f"search[{' '.join(rng.sample(words, min(len(words), rng.randint(1, 5))))}]"
            elif clicks:
                action = fmt.format(rng.choice(clicks))
            else:
                action = "look"
            out.append(format_react("I will try something.", action))
        return out


class ReplayPolicy:
    """Replays fixed replies per task id (verbatim texts), e.g. to re-check a logged episode."""

    name = "replay"

    def __init__(self, replies: dict[str, list[str]]):
        self.replies = replies

    def act(self, episodes: Sequence[EpisodeView], sampling: Sampling = Sampling()) -> list[str]:
        """The next logged reply of each episode (an empty reply once the log is exhausted)."""
        out = []
        for v in episodes:
            log = self.replies.get(v.task.task_id, [])
            out.append(log[v.step_index] if v.step_index < len(log) else "")
        return out
