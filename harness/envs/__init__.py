"""Environments behind one contract (see ``harness.envs.base``)."""

from harness.envs.base import AvailableActions, Environment, StepResult, list_envs, make_env, register_env

__all__ = ["AvailableActions", "Environment", "StepResult", "list_envs", "make_env", "register_env"]
