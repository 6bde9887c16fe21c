"""``GenieDreamVecEnv``: many dreams stepped together in one batched forward pass (a Stable-Baselines3 VecEnv).

The dreams run in lockstep: they start together from ``num_envs`` real-game contexts (one seed each), every step
predicts all next frames in one call of the world model, and all of them are truncated together after
``max_episode_steps`` steps, when the VecEnv resets them (SB3 semantics: the returned observation is the new episode's
first frame; ``infos[i]["terminal_observation"]`` holds the last dreamed frame). Dreams never terminate otherwise.
An SB3 adapter of :class:`~genie_gym.envs.dream_batch.DreamBatch` (``venv.dreams``), the engine of every dream env.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from genie_gym.conventions import FRAME_SIZE
from genie_gym.envs.dream_batch import DreamBatch, DreamView
from genie_gym.models.upscaler import render_upscaler
from genie_gym.world_model import WorldModel


class GenieDreamVecEnv(DreamView, VecEnv):
    """``num_envs`` dreams of one world model, batched.

    Args:
        num_envs: number of parallel dreams (the batch size of every forward pass).
        checkpoint / world_model / reward_top_fraction / reward / device / settings: as for
            :class:`genie_gym.envs.dream_env.GenieDreamEnv` (``device="cuda"`` for large batches on a GPU).
        max_episode_steps: all dreams are truncated (and reset) together after this many steps.
        seed: base seed; dream ``i`` starts from the real game reset with ``seed + i``.
        render_size / upscaler: as for :class:`genie_gym.envs.dream_env.GenieDreamEnv`; a ``render_size`` makes
            the VecEnv's ``render_mode`` ``"rgb_array"``, and ``get_images()`` / ``render()`` show the dreams at
            that size (the observations stay 64x64).
    """

    def __init__(self, num_envs: int, checkpoint: str | Path = "smb", world_model: WorldModel | None = None,
                 max_episode_steps: int = 1000, *, reward_top_fraction: float = 0.25, reward: str = "uncertainty",
                 seed: int = 0,
                 device: str = "cpu", render_size: int | None = None, upscaler: str | Path | None = "auto",
                 **settings: Any) -> None:
        self.render_mode = None if render_size is None else "rgb_array"  # SB3's VecEnv.render draws get_images()
        self.dreams = DreamBatch(num_envs, checkpoint, world_model, device, max_episode_steps, reward_top_fraction,
                                 reward, **settings)
        self.render_size = FRAME_SIZE if render_size is None else int(render_size)
        self.upscaler = render_upscaler(render_size, upscaler, self.game, device)  # None: 64x64 frames as they are
        self.dreams.seed(seed)
        super().__init__(num_envs, self.dreams.single_observation_space, self.dreams.single_action_space)
        self._actions: np.ndarray | None = None

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Set the base seed used by the next reset."""
        if seed is not None:
            self.dreams.seed(seed)
        return [self.dreams.base_seed + i for i in range(self.num_envs)]

    def reset(self) -> np.ndarray:
        """Start ``num_envs`` new dreams; returns uint8 ``(num_envs, 64, 64, 3)``."""
        return self.dreams.start_in_lockstep()

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the batch of actions (int ``(num_envs,)``)."""
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        """Dream one frame for every env; returns ``(obs, rewards, dones, infos)`` (``reward="none"``: rewards 0.0 and
        no ``"uncertainty_map"`` in the infos)."""
        obs, rewards, maps = self.dreams.step(self._actions)
        infos: list[dict[str, Any]] = ([{} for _ in range(self.num_envs)] if maps is None
                                       else [{"uncertainty_map": uncertainty_map} for uncertainty_map in maps])
        dones = np.full(self.num_envs, self.dreams.truncated)
        if self.dreams.truncated:
            for frame, info in zip(obs, infos, strict=True):
                info["terminal_observation"] = frame
                info["TimeLimit.truncated"] = True
            obs = self.reset()
        return obs, rewards, dones, infos

    def get_images(self) -> Sequence[np.ndarray]:
        """The ``num_envs`` current frames, uint8 ``(render_size, render_size, 3)`` each (what SB3's ``render``
        tiles); empty before the first reset."""
        if self.dreams.frames is None:
            return []
        frames = self.dreams.frames if self.upscaler is None else self.upscaler(self.dreams.frames)
        return [frame.copy() for frame in frames]

    def close(self) -> None:
        """Release the real env used for contexts."""
        self.dreams.close()

    def get_attr(self, attr_name: str, indices: VecEnvIndices = None) -> list[Any]:
        """The attribute of this (shared) object, once per selected env."""
        return [getattr(self, attr_name)] * len(self._get_indices(indices))

    def set_attr(self, attr_name: str, value: Any, indices: VecEnvIndices = None) -> None:
        """Set an attribute shared by every dream."""
        setattr(self, attr_name, value)

    def env_method(self, method_name: str, *method_args, indices: VecEnvIndices = None, **method_kwargs) -> list[Any]:
        """Call a method of this object once per selected env."""
        return [getattr(self, method_name)(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    def env_is_wrapped(self, wrapper_class: type[gym.Wrapper], indices: VecEnvIndices = None) -> list[bool]:
        """Dreams are never wrapped individually."""
        return [False] * len(self._get_indices(indices))
