"""The AutoExplore reward in the real game: a world model's token-entropy uncertainty about each real transition.

In a dream (``GenieDreamVecEnv``) the uncertainty is the env's own reward. :class:`UncertaintyRewardVecEnv` gives
the same signal to an agent that plays the real game, computed by the same function
(:func:`genie_gym.uncertainty.transition_uncertainty`: the world model's first MaskGIT pass over the next frame given
the frames before the step; mean of the top 25% normalised token entropies). So AutoExplore trains against the real
game or against the dream through one interface, for one reward: the same frames and actions are paid the same in both
(``tests/test_uncertainty_definition.py``).
"""

from __future__ import annotations

import numpy as np
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn

from genie_gym.conventions import FRAME_SIZE
from genie_gym.uncertainty import ContextWindows, TokenEntropyReward
from genie_gym.world_model import WorldModel


class TransitionRewardVecEnv(VecEnvWrapper):
    """Base of the real-game rewards that a world model computes for each transition from the real frames before it
    (:class:`UncertaintyRewardVecEnv`, :class:`genie_gym.agents.curiosity_wm.WorldModelCuriosityVecEnv`).

    It checks the env against the world model, keeps every env's context (:class:`~genie_gym.uncertainty.
    ContextWindows`: its last two real frames and the action between them; right after a reset, the one frame the env
    shows) and records the actions of the step in flight; a subclass's ``step_wait`` scores them with
    :meth:`step_actions` and moves the windows on.

    Args:
        venv: real-game envs with RGB uint8 ``(64, 64, 3)`` observations.
        world_model: the model that scores the transitions.
        reward_name: names the reward in the error messages.
    """

    def __init__(self, venv: VecEnv, world_model: WorldModel, reward_name: str) -> None:
        if getattr(venv.observation_space, "shape", None) != (FRAME_SIZE, FRAME_SIZE, 3):
            raise ValueError(f"{reward_name} needs RGB uint8 ({FRAME_SIZE}, {FRAME_SIZE}, 3) observations, got "
                             f"{venv.observation_space}: wrap the env before any transpose or frame stacking")
        if int(venv.action_space.n) != world_model.num_actions:
            raise ValueError(f"the env has {venv.action_space.n} actions, the world model {world_model.num_actions}")
        super().__init__(venv)
        self.world_model = world_model
        self.windows = ContextWindows(self.num_envs)
        self._started = False
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        self.windows.reset(obs)
        self._started = True
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs).copy()
        self.venv.step_async(actions)

    def step_actions(self) -> np.ndarray:
        """The actions of the step in flight, int64 ``(num_envs,)``; ``RuntimeError`` before ``reset()``."""
        if not self._started or self._actions is None:
            raise RuntimeError("call reset() before step()")
        return self._actions


class UncertaintyRewardVecEnv(TransitionRewardVecEnv):
    """Replaces a real-game VecEnv's reward with a world model's uncertainty about each transition.

    The context of each env is its last two real frames and the action between them
    (:class:`~genie_gym.uncertainty.ContextWindows`); right after a reset it is the one frame the env shows. The env's
    own reward is kept in ``info["extrinsic_reward"]``, the uncertainty map of the step in ``info["uncertainty_map"]``.

    Args:
        venv: real-game envs with RGB uint8 ``(64, 64, 3)`` observations.
        world_model: the model whose uncertainty is the reward.
        top_fraction: fraction of the most uncertain tokens averaged (0.25 in the paper).
    """

    def __init__(self, venv: VecEnv, world_model: WorldModel, top_fraction: float = 0.25) -> None:
        super().__init__(venv, world_model, "the uncertainty reward")
        TokenEntropyReward(top_fraction)  # one clear error for a bad fraction
        self.top_fraction = float(top_fraction)

    def step_wait(self) -> VecEnvStepReturn:
        actions = self.step_actions()
        reward, maps = self.windows.uncertainty(self.world_model, actions, self.top_fraction)
        obs, rewards, dones, infos = self.venv.step_wait()
        for i, info in enumerate(infos):
            info["extrinsic_reward"] = float(rewards[i])
            info["uncertainty_map"] = maps[i]
        self.windows.push(obs, actions)
        self.windows.reset(obs, np.flatnonzero(dones))  # obs[i] is already the next episode's first frame
        return obs, reward, dones, infos
