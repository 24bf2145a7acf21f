"""ScienceWorld's reward as ETO (Song et al. 2024) computes it, and when an episode ends.

The game keeps a score in [0, 1] (the share of the task's sub-goals reached; the package shows it
x100) and sets it to -1 when the task is failed (e.g. the agent focused on the wrong object).
ETO reads the raw score (``server.getScore()``, not the package's rounded x100 value) after every
agent step and keeps the best one seen:

    R_1 = s_1,    R_t = max(R_{t-1}, s_t)

so an episode that fails after progress keeps its progress, and only a failure on the very first
action scores -1. R stands when the episode stops for any reason: the game ends it (task done,
score < 0 or more than 200 game moves: the package's rules with ETO's ``envStepLimit=200``), or the
step budget runs out (ETO does not zero it), or the agent's context overflows. ETO reports the
average of R over the test tasks ("average reward"; x100 in its tables).

Success: R = 1 (the game's task completed with every sub-goal). ETO's own ``success`` flag is set
whenever the game ends the episode (a failure at -1 included) and its paper reports only the
average reward for ScienceWorld, so the flag is not reproduced.

Differences from ETO's loop (both rare): ETO sets R to 0 when a reply has no ``Action:``, and later
steps raise it again from 0; here such replies never reach the environment (the rollout engine
answers them), so R keeps its best value, except that a malformed *last* reply scores 0 (the
rollout engine's rule, which matches ETO's for that case).
"""

from __future__ import annotations

ENV_STEP_LIMIT = 200  # ETO builds the game with envStepLimit=200 (game moves, "wait" counts 10)
REWARD_VERSION = "eto-max-raw-score"


def running_reward(previous: float | None, score: float) -> float:
    """ETO's reward after a step with raw game score ``score``, given the reward before it (``None``
    before the first step)."""
    return score if previous is None else max(previous, score)


def game_ends(score: float, completed: bool, moves: int) -> bool:
    """Whether the game ends the episode: task completed, task failed (score < 0) or too many moves."""
    return completed or score < 0 or moves > ENV_STEP_LIMIT
