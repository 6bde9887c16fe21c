"""genie-gym: Gymnasium world-model environments (GenieRedux-G, AutoExplore, RetroAct).

Importing the package registers the Gymnasium ids (``GenieRetro-SMB-v0``, ...).
"""

from genie_gym.allocator import keep_freed_memory
from genie_gym.conventions import ACTION_NAMES, FRAME_SHAPE, FRAME_SKIP, NUM_ACTIONS
from genie_gym.envs import GenieRetroEnv, register_dream, register_retro_envs, register_shipped_dreams

__version__ = "0.1.0"

register_retro_envs()
register_shipped_dreams()

__all__ = ["ACTION_NAMES", "FRAME_SHAPE", "FRAME_SKIP", "NUM_ACTIONS", "GenieRetroEnv", "__version__",
           "keep_freed_memory", "register_dream"]
