"""Environments: the real retro games (and, later, the dream)."""

from genie_gym.envs.registration import register_retro_envs
from genie_gym.envs.retro_env import EmulatorBusyError, GenieRetroEnv

__all__ = ["EmulatorBusyError", "GenieRetroEnv", "register_retro_envs"]
