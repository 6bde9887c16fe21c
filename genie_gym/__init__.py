"""genie-gym: Gymnasium world-model environments (GenieRedux-G, AutoExplore, RetroAct).

Importing the package registers the Gymnasium ids (``GenieRetro-SMB-v0``, ``GenieDream-SMB-v0``, ...).
``GenieDreamEnv``, ``GenieDreamVecEnv`` (batched dreams, a Stable-Baselines3 VecEnv) and ``GenieDreamVectorEnv`` (the
same batched dreams as a Gymnasium VectorEnv, what ``gym.make_vec`` gives for a dream id) are importable from here too;
they load torch (and SB3) on first use, so ``import genie_gym`` stays light.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from genie_gym import fork_safety  # noqa: F401  (registers its fork hook before any env can be forked)
from genie_gym.allocator import keep_freed_memory
from genie_gym.conventions import ACTION_NAMES, FRAME_SHAPE, FRAME_SKIP, NUM_ACTIONS
from genie_gym.envs import GenieRetroEnv, register_dream, register_retro_envs, register_shipped_dreams

if TYPE_CHECKING:
    from genie_gym.envs.dream_env import GenieDreamEnv
    from genie_gym.envs.dream_vec_env import GenieDreamVecEnv
    from genie_gym.envs.dream_vector_env import GenieDreamVectorEnv

__version__ = "0.1.0"

register_retro_envs()
register_shipped_dreams()

_LAZY = {"GenieDreamEnv": "genie_gym.envs.dream_env", "GenieDreamVecEnv": "genie_gym.envs.dream_vec_env",
         "GenieDreamVectorEnv": "genie_gym.envs.dream_vector_env"}

__all__ = ["ACTION_NAMES", "FRAME_SHAPE", "FRAME_SKIP", "NUM_ACTIONS", "GenieDreamEnv", "GenieDreamVecEnv",
           "GenieDreamVectorEnv", "GenieRetroEnv", "__version__", "keep_freed_memory", "register_dream"]


def __getattr__(name: str) -> Any:
    """``genie_gym.GenieDreamEnv`` / ``genie_gym.GenieDreamVecEnv``, imported on first use (they import torch)."""
    if name in _LAZY:
        value = getattr(importlib.import_module(_LAZY[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'genie_gym' has no attribute {name!r}")
