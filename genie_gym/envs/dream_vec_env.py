"""``GenieDreamVecEnv``: many dreams stepped together in one batched forward pass (a Stable-Baselines3 VecEnv).

The dreams run in lockstep: they start together from ``num_envs`` real-game contexts (one seed each), every step
predicts all next frames in one call of the world model, and all of them are truncated together after
``max_episode_steps`` steps, when the VecEnv resets them (SB3 semantics: the returned observation is the new episode's
first frame; ``infos[i]["terminal_observation"]`` holds the last dreamed frame). Dreams never terminate otherwise.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import gymnasium as gym
import numpy as np
import torch
from stable_baselines3.common.vec_env.base_vec_env import VecEnv, VecEnvIndices, VecEnvStepReturn

from genie_gym.conventions import FRAME_SIZE, NUM_ACTIONS
from genie_gym.fork_safety import use_one_thread_if_forked
from genie_gym.uncertainty import TokenEntropyReward
from genie_gym.world_model import DreamState, WorldModel


class GenieDreamVecEnv(VecEnv):
    """``num_envs`` dreams of one world model, batched.

    Args:
        num_envs: number of parallel dreams (the batch size of every forward pass).
        checkpoint / world_model: as for :class:`genie_gym.envs.dream_env.GenieDreamEnv`.
        max_episode_steps: all dreams are truncated (and reset) together after this many steps.
        maskgit_steps, temperature, context_frames, action_guidance: sampling settings (defaults from the
            checkpoint's dream.json).
        reward_top_fraction: fraction of most uncertain tokens averaged into the reward.
        seed: base seed; dream ``i`` starts from the real game reset with ``seed + i``.
        device: torch device of the model (``"cuda"`` for large batches on a GPU).
    """

    def __init__(self, num_envs: int, checkpoint: str = "smb", world_model: WorldModel | None = None,
                 max_episode_steps: int = 1000, maskgit_steps: int | None = None, temperature: float | None = None,
                 context_frames: int | None = None, reward_top_fraction: float = 0.25, seed: int = 0,
                 action_guidance: float | None = None, device: str = "cpu") -> None:
        observation_space = gym.spaces.Box(0, 255, (FRAME_SIZE, FRAME_SIZE, 3), dtype=np.uint8)
        self.render_mode = None
        super().__init__(num_envs, observation_space, gym.spaces.Discrete(NUM_ACTIONS))
        use_one_thread_if_forked()  # before any torch work (genie_gym.fork_safety)
        self.world_model = world_model if world_model is not None else WorldModel.from_pretrained(checkpoint, device)
        self.world_model.require_ground_truth_actions()
        settings = self.world_model.settings
        self.game = str(settings["game"])
        self.max_episode_steps = int(max_episode_steps)
        self.maskgit_steps = int(maskgit_steps or settings["maskgit_steps"])
        self.temperature = float(settings["temperature"] if temperature is None else temperature)
        self.action_guidance = self.world_model.guidance_weight(action_guidance)
        self.context_frames = int(context_frames or settings["context_frames"])
        self.reward_fn = TokenEntropyReward(reward_top_fraction)
        self.base_seed = int(seed)
        self._episode = 0
        self._actions: np.ndarray | None = None
        self._state: DreamState | None = None
        self._steps = 0
        self._generator = torch.Generator(self.world_model.device)  # sampling noise drawn where the model runs
        self._real_env = None

    def seed(self, seed: int | None = None) -> Sequence[int | None]:
        """Set the base seed used by the next reset."""
        if seed is not None:
            self.base_seed, self._episode = int(seed), 0
        return [self.base_seed + i for i in range(self.num_envs)]

    def reset(self) -> np.ndarray:
        """Start ``num_envs`` new dreams; returns uint8 ``(num_envs, 64, 64, 3)``."""
        frames, actions = self._real_contexts()
        self._generator.manual_seed(self.base_seed * 7919 + self._episode)
        self._state = self.world_model.start(frames, actions)
        self._steps = 0
        self._episode += 1
        return frames[:, -1].copy()

    def step_async(self, actions: np.ndarray) -> None:
        """Remember the batch of actions (int ``(num_envs,)``)."""
        self._actions = np.asarray(actions).reshape(self.num_envs)

    def step_wait(self) -> VecEnvStepReturn:
        """Dream one frame for every env; returns ``(obs, rewards, dones, infos)``."""
        if self._state is None:
            raise RuntimeError("call reset() before step()")
        frames, uncertainty = self.world_model.step(self._state, self._actions, self.maskgit_steps, self.temperature,
                                                    self._generator, self.action_guidance)
        rewards = self.reward_fn(uncertainty).numpy().astype(np.float32)
        self._steps += 1
        infos: list[dict[str, Any]] = [{"uncertainty_map": uncertainty[i].numpy()} for i in range(self.num_envs)]
        dones = np.zeros(self.num_envs, dtype=bool)
        obs = frames
        if self._steps >= self.max_episode_steps:
            dones[:] = True
            for i, info in enumerate(infos):
                info["terminal_observation"] = frames[i]
                info["TimeLimit.truncated"] = True
            obs = self.reset()
        return obs, rewards, dones, infos

    def close(self) -> None:
        """Release the real env used for contexts."""
        if self._real_env is not None:
            self._real_env.close()
            self._real_env = None

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

    def _real_contexts(self) -> tuple[np.ndarray, np.ndarray]:
        from genie_gym.envs.retro_env import context_env

        if self._real_env is None:
            self._real_env = context_env(self.game)
        rng = np.random.default_rng([self.base_seed, self._episode])
        all_frames, all_actions = [], []
        for i in range(self.num_envs):
            obs, _ = self._real_env.reset(seed=self.base_seed + i + self._episode * self.num_envs)
            frames, actions = [obs], []
            for _ in range(self.context_frames - 1):
                action = int(rng.integers(0, NUM_ACTIONS))
                obs, *_ = self._real_env.step(action)
                frames.append(obs)
                actions.append(action)
            all_frames.append(np.stack(frames))
            all_actions.append(np.asarray(actions, dtype=np.int64))
        return np.stack(all_frames), np.stack(all_actions)
