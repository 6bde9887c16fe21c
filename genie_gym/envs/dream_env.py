"""``GenieDreamEnv``: a trained world model behind the same interface as the real game.

Observation: RGB uint8 ``(64, 64, 3)`` dreamed frames. Actions: ``Discrete(5)`` (RIGHT, LEFT, UP, DOWN, JUMP).
Reward: token-entropy uncertainty of the predicted frame (normalised entropy, mean of the top 25% tokens), the
AutoExplore signal; ``info["uncertainty_map"]`` holds the per-token map ``(h, w)``. ``reward="none"`` pays 0.0 and
leaves the map out, for a player that needs neither (more frames/s at 1 MaskGIT step on a CPU:
docs/BENCHMARKS.md; the frames are the same). The dream never terminates. Its one
step limit is Gymnasium's: ``gym.make`` wraps it in ``TimeLimit`` (the registered ``max_episode_steps``, 1000, or
``gym.make(id, max_episode_steps=N)``); an env built directly runs until ``max_episode_steps`` if given, else forever.
Past frames beyond ``context_window`` are dropped, so memory stays flat.

The env is a batch of one of :class:`~genie_gym.envs.dream_batch.DreamBatch` (``env.dreams``), the engine of every
dream env. Where the context of a dream comes from, per ``reset``:
- default: the real game (``GenieRetroEnv``) reset with the same seed, played for ``context_frames - 1`` seeded
  random actions;
- ``options={"frames": uint8 (T, 64, 64, 3), "actions": int (T - 1,)}``: frames you pass;
- ``options={"episode": "STORE/SMB/ep_000003"}``: the first frames of a stored episode.

Other option keys are rejected with the list of valid ones.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gymnasium as gym
import numpy as np

from genie_gym.conventions import FRAME_SIZE, validate_action
from genie_gym.envs.dream_batch import RESET_OPTIONS, DreamBatch, DreamView
from genie_gym.models.upscaler import render_upscaler
from genie_gym.render_window import FrameWindow, require_display
from genie_gym.world_model import WorldModel


class GenieDreamEnv(DreamView, gym.Env):
    """A dream of a retro game produced by a GenieRedux-G world model.

    Args:
        checkpoint: a shipped checkpoint name (``"smb"``) or a world-model directory; or pass ``world_model``.
        world_model: an already loaded :class:`WorldModel` (shared between envs, e.g. in tests).
        max_episode_steps: for an env built directly, truncate after this many steps (``None``: never). Through
            ``gym.make`` leave it out: the registered limit (``gym.make(id, max_episode_steps=N)``) is Gymnasium's
            ``TimeLimit`` wrapper, visible in ``env.spec.max_episode_steps``.
        reward_top_fraction: fraction of most uncertain tokens averaged into the reward.
        reward: ``"uncertainty"`` (default) or ``"none"`` (reward 0.0 and no ``info["uncertainty_map"]``, which spares
            the reward's forward passes; :data:`~genie_gym.envs.dream_batch.DREAM_REWARDS`). ``env.reward = ...``
            changes it from the next step; ``env.dreams.last_step_uncertainty()`` computes a skipped step's.
        render_mode: ``"rgb_array"`` (``render()`` returns the frame at ``render_size``), ``"human"`` (a pygame
            window; needs a display or ``SDL_VIDEODRIVER=dummy``) or ``None`` (``render()`` returns ``None``).
        render_size: side of the rendered frames: 64 (default) the dream's own frames, 256 (or any larger size) the
            frame upscaled by ``upscaler``. Observations stay 64x64 whatever this is.
        upscaler: what upscales rendered frames: ``"auto"`` (the game's shipped super-resolution network,
            ``checkpoints/upscaler-smb``, else bicubic), ``"bicubic"``, or an upscaler checkpoint or run directory
            (``genie train upscaler``).
        device: torch device.
        **settings: sampling settings by name, each defaulting to the checkpoint's ``dream.json``
            (:class:`~genie_gym.envs.dream_batch.DreamSettings`): ``context_frames``, ``maskgit_steps``,
            ``temperature``, ``action_guidance``, ``hold_pixels``, ``hold_tolerance``, ``hold_bias``,
            ``change_temperature``.
    """

    metadata = {"render_modes": ["rgb_array", "human"], "render_fps": 15}
    RESET_OPTIONS = RESET_OPTIONS

    def __init__(self, checkpoint: str | Path = "smb", world_model: WorldModel | None = None,
                 max_episode_steps: int | None = None, *, reward_top_fraction: float = 0.25,
                 reward: str = "uncertainty", render_mode: str | None = None, device: str = "cpu",
                 render_size: int = FRAME_SIZE, upscaler: str | Path | None = "auto", **settings: Any) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be one of {self.metadata['render_modes']} or None, got {render_mode!r}")
        if render_mode == "human":
            require_display("render_mode='human' (a pygame window)")
        self.dreams = DreamBatch(1, checkpoint, world_model, device, max_episode_steps, reward_top_fraction, reward,
                                 **settings)
        self.render_mode = render_mode
        self.observation_space = self.dreams.single_observation_space
        self.action_space = self.dreams.single_action_space
        self._window: FrameWindow | None = None
        self.render_size = int(render_size)
        self.upscaler = render_upscaler(render_size, upscaler, self.game, device)  # None: 64x64 frames as they are

    def reset(self, *, seed: int | None = None,
              options: dict[str, Any] | None = None) -> tuple[np.ndarray, dict[str, Any]]:
        """Start a new dream; returns ``(obs uint8 (64, 64, 3), info)``. See the module doc for ``options``."""
        super().reset(seed=seed)
        generator_seed = int(self.np_random.integers(0, 2**62))
        frames, actions = self.dreams.context(seed, options or {}, self.np_random)
        self.dreams.start(frames[None], actions[None], generator_seed)
        if self.render_mode == "human":
            self.render()
        return self.dreams.frames[0].copy(), {"context_frames": len(frames)}

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        """Dream the next frame; returns ``(obs, uncertainty reward, False, truncated, info)`` (``reward="none"``:
        reward 0.0 and no ``"uncertainty_map"`` in ``info``)."""
        self.dreams.require_started()
        frames, rewards, maps = self.dreams.step(np.array([validate_action(action)]))
        info: dict[str, Any] = {"step": self.dreams.steps}
        if maps is not None:
            info["uncertainty_map"] = maps[0]
        if self.render_mode == "human":
            self.render()
        return frames[0].copy(), float(rewards[0]), False, self.dreams.truncated, info

    def render(self) -> np.ndarray | None:
        """``rgb_array``: the current frame, uint8 ``(render_size, render_size, 3)`` (64: the observation; 256: it
        upscaled, see ``upscaler``); ``human``: draw it in a pygame window (returns ``None``); ``render_mode=None``:
        ``None``, as Gymnasium specifies (the frame is the observation)."""
        if self.dreams.frames is None or self.render_mode is None:
            return None
        frame = self.dreams.frames[0] if self.upscaler is None else self.upscaler(self.dreams.frames[0])
        if self.render_mode == "human":
            if self._window is None:  # about 384 pixels a side, whatever the render size
                self._window = FrameWindow(title=f"GenieDream-{self.game}", scale=max(1, 384 // self.render_size))
            self._window.show(frame)
            return None
        return frame.copy() if self.upscaler is None else frame

    def close(self) -> None:
        """Release the real env used for contexts and any window."""
        if self._window is not None:
            self._window.close()
            self._window = None
        self.dreams.close()

    def __getstate__(self) -> dict[str, Any]:
        """``copy.deepcopy`` / ``pickle`` copy the dream (see :meth:`DreamBatch.__getstate__`) but not the window."""
        return {**self.__dict__, "_window": None}
