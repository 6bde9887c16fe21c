"""The AutoExplore reward in the real game: a world model's token-entropy uncertainty about each real transition.

In a dream (``GenieDreamVecEnv``) the uncertainty is the env's own reward. :class:`UncertaintyRewardVecEnv` gives
the same signal to an agent that plays the real game: before each real step, the world model predicts the next frame
from the last two real frames and the action taken, and the reward is the uncertainty of that prediction
(:class:`genie_gym.uncertainty.TokenEntropyReward`: mean of the top 25% normalised token entropies). So AutoExplore
trains against the real game or against the dream through one interface.
"""

from __future__ import annotations

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from genie_gym.conventions import FRAME_SIZE
from genie_gym.uncertainty import TokenEntropyReward
from genie_gym.world_model import WorldModel


class UncertaintyRewardVecEnv(VecEnvWrapper):
    """Replaces a real-game VecEnv's reward with a world model's uncertainty about each transition.

    The context of each env is its last two real frames and the action between them; right after a reset there is
    one frame, which is used twice with the action about to be taken between the copies (the player standing still).
    The env's own reward is kept in ``info["extrinsic_reward"]``.

    Args:
        venv: real-game envs with RGB uint8 ``(64, 64, 3)`` observations.
        world_model: the model whose uncertainty is the reward.
        maskgit_steps: MaskGIT steps of the prediction (1: one pass, the entropies of the first pass).
        top_fraction: fraction of the most uncertain tokens averaged (0.25 in the paper).
        seed: seeds the sampling of the prediction.
    """

    def __init__(self, venv: VecEnv, world_model: WorldModel, maskgit_steps: int = 1, top_fraction: float = 0.25,
                 seed: int = 0) -> None:
        if getattr(venv.observation_space, "shape", None) != (FRAME_SIZE, FRAME_SIZE, 3):
            raise ValueError(f"the uncertainty reward needs RGB uint8 ({FRAME_SIZE}, {FRAME_SIZE}, 3) observations, "
                             f"got {venv.observation_space}")
        if int(venv.action_space.n) != world_model.num_actions:
            raise ValueError(f"the env has {venv.action_space.n} actions, the world model {world_model.num_actions}")
        super().__init__(venv)
        self.world_model = world_model
        self.maskgit_steps = int(maskgit_steps)
        self.reward_fn = TokenEntropyReward(top_fraction)
        self.generator = torch.Generator(world_model.device).manual_seed(int(seed))
        self._context: np.ndarray | None = None  # uint8 (N, 2, 64, 64, 3)
        self._context_actions = np.zeros(self.num_envs, dtype=np.int64)
        self._fresh = np.ones(self.num_envs, dtype=bool)  # envs whose context is one frame used twice
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        self._context = np.stack([obs, obs], axis=1)
        self._fresh[:] = True
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs).copy()
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        if self._context is None or self._actions is None:
            raise RuntimeError("call reset() before step()")
        context_actions = np.where(self._fresh, self._actions, self._context_actions)
        state = self.world_model.start(self._context, context_actions[:, None])
        _, uncertainty = self.world_model.step(state, self._actions, self.maskgit_steps, None, self.generator)
        reward = self.reward_fn(uncertainty).numpy().astype(np.float32)
        obs, rewards, dones, infos = self.venv.step_wait()
        for i, info in enumerate(infos):
            info["extrinsic_reward"] = float(rewards[i])
        self._context = np.stack([self._context[:, 1], obs], axis=1)
        self._context_actions = self._actions
        self._fresh[:] = False
        for i in np.flatnonzero(dones):  # obs[i] is already the next episode's first frame
            self._context[i] = obs[i]
            self._fresh[i] = True
        return obs, reward, dones, infos
