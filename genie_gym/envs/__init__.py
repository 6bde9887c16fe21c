"""Environments: the real retro games and their dreams."""

from genie_gym.envs.registration import register_dream, register_retro_envs, register_shipped_dreams
from genie_gym.envs.retro_env import EmulatorBusyError, EnvCopyError, GenieRetroEnv, SharedEmulatorWarning

__all__ = ["EmulatorBusyError", "EnvCopyError", "GenieRetroEnv", "SharedEmulatorWarning", "register_dream",
           "register_retro_envs", "register_shipped_dreams"]
