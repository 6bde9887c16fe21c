"""``GenieDreamVectorEnv``: batched dreams as a Gymnasium ``VectorEnv``, what ``gym.make_vec`` gives for a dream id.

``gym.make_vec("GenieDream-SMB-v0", num_envs=N)`` (``vectorization_mode`` left out, or ``"vector_entry_point"``)
builds this class, registered as the ids' ``vector_entry_point``: an adapter of
:class:`~genie_gym.envs.dream_batch.DreamBatch` (``envs.dreams``), the engine of every dream env, which dreams all
``N`` next frames in one forward pass, instead of ``N`` single dreams (``vectorization_mode="sync"``: one after the
other; ``"async"``: one process each).

The dreams run in lockstep: ``reset(seed=s)`` starts dream ``i`` from the real game reset with seed ``s + i``, they
all step together and are all truncated together after ``max_episode_steps`` steps (the spec's limit, 1000, or
``gym.make_vec(id, num_envs=N, max_episode_steps=M)``). Autoreset is Gymnasium's default ``NEXT_STEP``: the step after
a truncation starts new dreams (reward 0, its actions ignored). Dreams never terminate. The info holds
``"uncertainty_map"`` ``(N, h, w)`` and ``"step"`` ``(N,)``, with their ``"_uncertainty_map"`` / ``"_step"`` masks
(``reward="none"``: rewards 0.0 and no ``"uncertainty_map"``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from genie_gym.conventions import FRAME_SIZE, NUM_ACTIONS, validate_action
from genie_gym.envs.dream_batch import DreamBatch, DreamView
from genie_gym.models.upscaler import render_upscaler
from genie_gym.world_model import WorldModel


class GenieDreamVectorEnv(DreamView, VectorEnv):
    """``num_envs`` dreams of one world model stepped in one forward pass, as a ``gymnasium.vector.VectorEnv``.

    Args:
        num_envs: number of dreams (the batch size of every forward pass).
        checkpoint / world_model / reward_top_fraction / reward / device / settings: as for
            :class:`~genie_gym.envs.dream_env.GenieDreamEnv`.
        max_episode_steps: all dreams are truncated together after this many steps (``None``: never).
        render_mode: ``"rgb_array"`` (``render()`` returns a tuple of the ``N`` current frames) or ``None``.
        render_size / upscaler: as for :class:`~genie_gym.envs.dream_env.GenieDreamEnv` (``render_size=256``:
            the frames upscaled, in one batch).
    """

    metadata = {"render_modes": ["rgb_array"], "render_fps": 15, "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int, checkpoint: str | Path = "smb", world_model: WorldModel | None = None,
                 max_episode_steps: int | None = None, *, reward_top_fraction: float = 0.25,
                 reward: str = "uncertainty", render_mode: str | None = None, device: str = "cpu",
                 render_size: int = FRAME_SIZE,
                 upscaler: str | Path | None = "auto", **settings: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode of batched dreams must be 'rgb_array' or None, got {render_mode!r}: for "
                             "a window per dream use gym.make_vec(id, num_envs=N, vectorization_mode='sync', "
                             "render_mode='human')")
        self.dreams = DreamBatch(num_envs, checkpoint, world_model, device, max_episode_steps, reward_top_fraction,
                                 reward, **settings)
        self.num_envs = self.dreams.num_envs
        self.render_mode = render_mode
        self.single_observation_space = self.dreams.single_observation_space
        self.single_action_space = self.dreams.single_action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self._autoreset = False
        self.render_size = int(render_size)
        self.upscaler = render_upscaler(render_size, upscaler, self.game, device)  # None: 64x64 frames as they are

    def reset(self, *, seed: int | list[int] | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start ``num_envs`` new dreams; returns ``(obs uint8 (N, 64, 64, 3), {})``.

        ``seed``: an int ``s`` (dream ``i`` starts from the real game reset with seed ``s + i``), the list
        ``[s, s + 1, ..., s + N - 1]`` or ``None`` (the next seeds of the running sequence). No ``options``.
        """
        if options:
            raise ValueError(f"batched dreams take no reset options, got {sorted(map(str, options))}: every dream "
                             "starts from the real game; for frames or episodes of your own use "
                             "gym.make_vec(id, num_envs=N, vectorization_mode='sync')")
        if seed is not None:
            base = self._base_seed(seed)
            super().reset(seed=base)
            self.dreams.seed(base)
        self._autoreset = False
        return self.dreams.start_in_lockstep().copy(), {}

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        """Dream one frame in every env; returns ``(obs, rewards, terminations, truncations, infos)`` of shape
        ``(N, ...)``."""
        self.dreams.require_started()
        actions = self._validate_actions(actions)
        no = np.zeros(self.num_envs, dtype=bool)
        if self._autoreset:  # NEXT_STEP: the step after a truncation starts the next dreams
            obs, _ = self.reset()
            return obs, np.zeros(self.num_envs, dtype=np.float64), no, no.copy(), {}
        obs, rewards, maps = self.dreams.step(actions)
        truncated = np.full(self.num_envs, self.dreams.truncated)
        self._autoreset = self.dreams.truncated
        every = np.ones(self.num_envs, dtype=bool)
        info: dict[str, Any] = {"step": np.full(self.num_envs, self.dreams.steps), "_step": every}
        if maps is not None:
            info.update(uncertainty_map=maps, _uncertainty_map=every.copy())
        return obs.copy(), rewards.astype(np.float64), no, truncated, info

    def render(self) -> tuple[np.ndarray, ...] | None:
        """``rgb_array``: the ``N`` current frames (uint8 ``(render_size, render_size, 3)`` each);
        ``render_mode=None``: ``None``."""
        if self.render_mode is None or self.dreams.frames is None:
            return None
        frames = self.dreams.frames if self.upscaler is None else self.upscaler(self.dreams.frames)
        return tuple(frame.copy() for frame in frames)

    def close_extras(self, **kwargs: Any) -> None:
        """Release the real game used for contexts."""
        self.dreams.close()

    def _base_seed(self, seed: int | list[int]) -> int:
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool):
            return int(seed)
        seeds = list(seed) if isinstance(seed, list | tuple | np.ndarray) else None
        if (seeds is None or len(seeds) != self.num_envs or not all(isinstance(s, int | np.integer) for s in seeds)
                or [int(s) - int(seeds[0]) for s in seeds] != list(range(self.num_envs))):
            raise ValueError(f"reset(seed=...) of {self.num_envs} batched dreams takes one int s (dream i gets s + i) "
                             f"or the list [s, ..., s + {self.num_envs - 1}], got {seed!r}")
        return int(seeds[0])

    def _validate_actions(self, actions: Any) -> np.ndarray:
        array = np.asarray(actions) if not isinstance(actions, str) else None
        if array is None or array.shape != (self.num_envs,) or array.dtype.kind not in "iu":
            given = f"shape {array.shape} and dtype {array.dtype}" if array is not None else repr(actions)
            raise ValueError(f"actions of {self.num_envs} batched dreams must be integers of shape ({self.num_envs},) "
                             f"in [0, {NUM_ACTIONS}), got {given}: e.g. envs.step(envs.action_space.sample())")
        for action in array:
            validate_action(action)
        return array.astype(np.int64)

    def __repr__(self) -> str:
        return f"GenieDreamVectorEnv({self.game}, num_envs={self.num_envs})"

