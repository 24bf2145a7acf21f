"""ALFWorld (Shridhar et al. 2021) text household tasks through TextWorld, pinned to alfworld 0.3.4."""

from harness.envs.alfworld.env import AlfworldEnv, AlfworldWorld, load_world, make_alfworld

__all__ = ["AlfworldEnv", "AlfworldWorld", "load_world", "make_alfworld"]
