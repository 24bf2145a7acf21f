"""ScienceWorld (Wang et al. 2022) elementary-science text tasks, as ETO evaluates them; scienceworld 1.2.3 on Java 17."""

from harness.envs.sciworld.env import SciworldEnv, SciworldWorld, load_world, make_sciworld

__all__ = ["SciworldEnv", "SciworldWorld", "load_world", "make_sciworld"]
