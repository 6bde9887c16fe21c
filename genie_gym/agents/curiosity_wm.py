"""RF / VAE curiosity on top of the world model: the exploration baselines of the paper's Table 6 as it computes them.

The paper compares AutoExplore with the curiosity of Burda et al. "on top of GenieRedux": the forward model of the
curiosity is the world model itself. The reward of a real step is the sum of squared errors between the features of
the world model's predicted next frame and the features of the real next frame,

    r = || phi(predicted next frame) - phi(real next frame) ||^2,

so it is large where the world model's prediction is wrong in what the features see:

- ``rf``: ``phi`` is a convolutional network with fixed random weights (Burda et al.'s "random features"), its output
  layer-normalised so that its scale is fixed;
- ``vae``: ``phi`` is the posterior mean of a variational auto-encoder of the frames, trained online on the real frames
  the agent reaches (the paper's "VAE features").

The prediction comes from the same context as AutoExplore's reward (the real frames before the step,
:class:`genie_gym.uncertainty.ContextWindows`) and is the world model's most likely next frame (temperature 0,
``maskgit_steps`` MaskGIT steps), so the reward follows the model's error, not its sampling noise. A dream has no real
next frame to compare with, so this reward is for the real game; the Burda-style form with its own forward model
(:mod:`genie_gym.agents.curiosity`, ``--reward rf-burda | vae-burda``) works in a dream too.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from stable_baselines3.common.vec_env import VecEnv
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn
from torch import nn

from genie_gym.agents.curiosity import (
    BatchLoss,
    OnlineTraining,
    encoded_features,
    feature_networks,
    frames_to_input,
    vae_loss,
)
from genie_gym.agents.uncertainty_reward import TransitionRewardVecEnv
from genie_gym.conventions import FRAME_SIZE
from genie_gym.world_model import WorldModel

FEATURE_KINDS = ("rf", "vae")


class FeatureMap(nn.Module):
    """``phi``: uint8 frames ``(B, 64, 64, 3)`` -> features ``(B, feature_dim)``.

    Args:
        kind: ``"rf"`` (fixed random features) or ``"vae"`` (VAE posterior mean, trained with :meth:`loss`).
        feature_dim: size of the features (512 as in Burda et al.).
        seed: seeds the initial weights (the random features of ``rf`` are these weights).
    """

    def __init__(self, kind: str = "rf", feature_dim: int = 512, seed: int = 0) -> None:
        super().__init__()
        if kind not in FEATURE_KINDS:
            raise ValueError(f"feature kind must be one of {FEATURE_KINDS}, got {kind!r}")
        self.kind, self.feature_dim = kind, int(feature_dim)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder, self.decoder = feature_networks(kind, self.feature_dim)

    @torch.no_grad()
    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, 64, 64, 3)`` -> float ``(B, feature_dim)``."""
        return encoded_features(self.encoder, self.kind, self.feature_dim, frames)

    @torch.no_grad()
    def sse(self, predicted: torch.Tensor, real: torch.Tensor) -> torch.Tensor:
        """The reward: ``||phi(predicted) - phi(real)||^2`` per frame, float ``(B,)``, for uint8 frames
        ``(B, 64, 64, 3)``."""
        return (self.features(predicted) - self.features(real)).pow(2).sum(dim=1)

    @property
    def trainable(self) -> bool:
        """Whether the features learn (``vae``) or stay fixed (``rf``)."""
        return self.decoder is not None

    def loss(self, frames: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
        """The VAE's training loss on uint8 frames ``(B, 64, 64, 3)`` (:func:`~genie_gym.agents.curiosity.vae_loss`)."""
        if self.decoder is None:
            raise ValueError("random features (rf) are fixed: only the vae features train")
        return vae_loss(self.encoder, self.decoder, frames_to_input(frames))


class WorldModelCuriosityVecEnv(OnlineTraining, TransitionRewardVecEnv):
    """Replaces a real-game VecEnv's reward with :meth:`FeatureMap.sse` between the world model's predicted next frame
    and the real one (module docstring).

    Before each step the world model predicts every env's next frame from its last real frames and the action
    (:class:`~genie_gym.uncertainty.ContextWindows`: two frames, one right after a reset); after it, the prediction is
    compared with the frame the game shows (``info["terminal_observation"]`` when an episode ends, since SB3's VecEnvs
    reset on their own). The prediction is in ``info["predicted_frame"]``, the env's own reward in
    ``info["extrinsic_reward"]``. With ``vae`` features, every ``update_every`` steps (of all envs together) the VAE
    trains ``epochs`` passes over the real frames of those steps (minibatches of ``minibatch_size``, Adam ``lr``), as
    Burda et al. train on each PPO rollout; ``learn=False`` scores without training (an evaluation env).

    Args:
        venv: real-game envs with RGB uint8 ``(64, 64, 3)`` observations.
        world_model: the forward model.
        kind, feature_dim, seed: see :class:`FeatureMap`.
        maskgit_steps: MaskGIT steps of the prediction.
        update_every, epochs, minibatch_size, lr: the VAE's online training schedule.
        learn: train the VAE (``False``: only score).
    """

    def __init__(self, venv: VecEnv, world_model: WorldModel, kind: str = "rf", feature_dim: int = 512,
                 seed: int = 0, maskgit_steps: int = 1, update_every: int = 64, epochs: int = 3,
                 minibatch_size: int = 256, lr: float = 1e-4, learn: bool = True) -> None:
        super().__init__(venv, world_model, "the world-model curiosity reward")
        if maskgit_steps < 1 or update_every < 1 or epochs < 1 or minibatch_size < 1:
            raise ValueError("maskgit_steps, update_every, epochs and minibatch_size must be >= 1")
        self.device = world_model.device
        self.features = FeatureMap(kind, feature_dim, seed).to(self.device).eval()
        # the most likely frame (temperature 0), the rest of the sampling as the world model's dream.json says
        self.sampling = world_model.dream_settings(maskgit_steps=maskgit_steps, temperature=0.0)
        self.learn = bool(learn)
        trainable = [p for p in self.features.parameters() if p.requires_grad]
        self.optimizer = torch.optim.Adam(trainable, lr=lr) if trainable else None
        self._init_training(seed, update_every, epochs, minibatch_size)

    @property
    def kind(self) -> str:
        return self.features.kind

    def predict(self, actions: np.ndarray) -> np.ndarray:
        """The world model's most likely next frame of every env under ``actions (num_envs,)``: uint8
        ``(num_envs, 64, 64, 3)``."""
        predicted = np.zeros((self.num_envs, FRAME_SIZE, FRAME_SIZE, 3), np.uint8)
        for envs, frames, context_actions in self.windows.groups():
            state = self.world_model.start(frames, context_actions)
            predicted[envs], _ = self.world_model.step(state, actions[envs], self.sampling)
        return predicted

    def step_wait(self) -> VecEnvStepReturn:
        actions = self.step_actions()
        predicted = self.predict(actions)
        obs, rewards, dones, infos = self.venv.step_wait()
        real = obs.copy()
        for i, (done, info) in enumerate(zip(dones, infos, strict=True)):
            info["extrinsic_reward"] = float(rewards[i])
            info["predicted_frame"] = predicted[i]
            if done and info.get("terminal_observation") is not None:
                real[i] = info["terminal_observation"]
        reward = self.features.sse(self._tensor(predicted), self._tensor(real)).cpu().numpy().astype(np.float32)
        if self.learn and self.features.trainable:
            self._buffer.append(real)
            if len(self._buffer) >= self.update_every:
                self.train_on_buffer()
        self.windows.push(real, actions)  # the context ends where the episode did, then restarts
        self.windows.reset(obs, np.flatnonzero(dones))
        return obs, reward, dones, infos

    def _buffered_loss(self, buffer: list[Any]) -> tuple[nn.Module, int, BatchLoss]:
        """The VAE trains on the buffered real frames."""
        frames = np.concatenate(buffer)
        return self.features, len(frames), lambda rows: self.features.loss(self._tensor(frames[rows]))

    def state(self) -> dict[str, Any]:
        """Everything needed to resume: the features' and the optimizer's state (tensors and numbers only)."""
        state: dict[str, Any] = {"features": self.features.state_dict(), "updates": self.updates}
        if self.optimizer is not None:
            state["optimizer"] = self.optimizer.state_dict()
        return state

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state` (the buffer starts empty)."""
        self.features.load_state_dict(state["features"])
        if self.optimizer is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
