"""Burda-style curiosity (Burda et al. 2019): RF and VAE features with their own forward model (``genie explore
--reward rf-burda | vae-burda``).

The paper's Table 6 computes its RF / VAE baselines "on top of GenieRedux", with the world model's prediction as the
forward model: that is :mod:`genie_gym.agents.curiosity_wm` (``--reward rf | vae``). This module keeps the original
form, which needs no world model and works in a dream as in the real game, as an option. Its feature networks
(:class:`FrameEncoder`, :class:`FrameDecoder`, :func:`vae_loss`) are shared with the world-model form.

A feature map ``phi`` embeds a frame; a forward model ``f`` predicts ``phi(s')`` from ``phi(s)`` and the action; the
intrinsic reward of a transition is the sum of squared errors ``0.5 * ||f(phi(s), a) - phi(s')||^2`` (the paper's
"SSE of RF and VAE features"): large where the agent's own model of the game fails.

- ``rf``: ``phi`` is a convolutional network with fixed random weights, its output layer-normalised (Burda et al.
  batch-normalise it; both keep the features' scale fixed while the forward model learns).
- ``vae``: ``phi`` is the posterior mean of a variational auto-encoder of the frames, trained on the agent's frames
  together with the forward model (the forward model does not move the features).

:class:`CuriosityRewardVecEnv` (a Stable-Baselines3 ``VecEnvWrapper``) replaces any VecEnv's reward with this one and
trains the networks on the transitions it sees, so the same agent trains against the real game
(``GenieRetroEnv`` in a ``SubprocVecEnv``) or against a dream (``GenieDreamVecEnv``).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from stable_baselines3.common.vec_env import VecEnv, VecEnvWrapper
from stable_baselines3.common.vec_env.base_vec_env import VecEnvStepReturn
from torch import nn

from genie_gym.conventions import FRAME_SIZE, NUM_ACTIONS

CURIOSITY_KINDS = ("rf", "vae")

BatchLoss = Callable[[np.ndarray], tuple[torch.Tensor, dict[str, float]]]
"""``loss(row indices) -> (loss, named parts)``: one minibatch of an online update (:func:`train_epochs`)."""


def frames_to_input(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, 64, 64, 3)`` frames -> float ``(B, 3, 64, 64)`` in ``[0, 1]``."""
    return frames.permute(0, 3, 1, 2).float().div_(255.0)


class FrameEncoder(nn.Module):
    """The Atari ("Nature") convolutional trunk sized for 64x64 frames: float ``(B, 3, 64, 64)`` -> ``(B, out_dim)``."""

    def __init__(self, out_dim: int) -> None:
        super().__init__()
        self.convs = nn.Sequential(
            nn.Conv2d(3, 32, 8, stride=4), nn.LeakyReLU(),   # 64 -> 15
            nn.Conv2d(32, 64, 4, stride=2), nn.LeakyReLU(),  # 15 -> 6
            nn.Conv2d(64, 64, 3, stride=1), nn.LeakyReLU(),  # 6 -> 4
            nn.Flatten(),
        )
        self.head = nn.Linear(64 * 4 * 4, out_dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.convs(x))


class FrameDecoder(nn.Module):
    """The VAE's decoder: float ``(B, latent)`` -> float ``(B, 3, 64, 64)`` in ``[0, 1]``."""

    def __init__(self, latent_dim: int) -> None:
        super().__init__()
        self.fc = nn.Linear(latent_dim, 64 * 4 * 4)
        self.deconvs = nn.Sequential(
            nn.LeakyReLU(),
            nn.ConvTranspose2d(64, 64, 4, stride=2, padding=1), nn.LeakyReLU(),  # 4 -> 8
            nn.ConvTranspose2d(64, 32, 4, stride=2, padding=1), nn.LeakyReLU(),  # 8 -> 16
            nn.ConvTranspose2d(32, 32, 4, stride=2, padding=1), nn.LeakyReLU(),  # 16 -> 32
            nn.ConvTranspose2d(32, 3, 4, stride=2, padding=1),                   # 32 -> 64
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.deconvs(self.fc(z).view(-1, 64, 4, 4)))


def feature_networks(kind: str, feature_dim: int) -> tuple[FrameEncoder, FrameDecoder | None]:
    """The networks of a feature map ``phi`` (weights from torch's current generator): ``rf``, a random encoder whose
    weights stay fixed, and no decoder; ``vae``, an encoder of the posterior mean and log-variance and the decoder
    that trains it. Both curiosities, Burda-style and on top of the world model, build theirs here."""
    if kind == "rf":
        encoder = FrameEncoder(feature_dim)
        for parameter in encoder.parameters():
            parameter.requires_grad_(False)
        return encoder, None
    return FrameEncoder(2 * feature_dim), FrameDecoder(feature_dim)


def encoded_features(encoder: FrameEncoder, kind: str, feature_dim: int, frames: torch.Tensor) -> torch.Tensor:
    """``phi(frames)`` for uint8 frames ``(B, 64, 64, 3)`` -> float ``(B, feature_dim)``: the random features
    layer-normalised, so that their scale is fixed (``rf``), or the VAE's posterior mean (``vae``)."""
    out = encoder(frames_to_input(frames))
    if kind == "rf":
        return F.layer_norm(out, (feature_dim,))
    return out[:, :feature_dim]


def vae_loss(encoder: FrameEncoder, decoder: FrameDecoder, x: torch.Tensor) -> tuple[torch.Tensor, dict[str, float]]:
    """The VAE's loss on float frames ``x (B, 3, 64, 64)``: sum of squared pixel errors of the reconstruction from a
    posterior sample, plus the KL to the unit Gaussian, each averaged over frames. ``encoder`` outputs the posterior
    mean and log-variance side by side. Returns ``(loss, {"vae_reconstruction": ..., "vae_kl": ...})``."""
    mean, log_var = encoder(x).chunk(2, dim=1)
    log_var = log_var.clamp(-10.0, 10.0)
    z = mean + torch.randn_like(mean) * (0.5 * log_var).exp()
    reconstruction = (decoder(z) - x).pow(2).sum(dim=(1, 2, 3)).mean()
    kl = 0.5 * (mean.pow(2) + log_var.exp() - 1.0 - log_var).sum(dim=1).mean()
    return reconstruction + kl, {"vae_reconstruction": float(reconstruction.detach()), "vae_kl": float(kl.detach())}


def train_epochs(module: nn.Module, optimizer: torch.optim.Optimizer,
                 loss: BatchLoss, rows: int, epochs: int,
                 minibatch_size: int, rng: np.random.Generator) -> dict[str, float]:
    """Train ``module`` for ``epochs`` passes over ``rows`` buffered rows, each pass in a new random order (drawn from
    ``rng``) cut into minibatches of ``minibatch_size``; ``loss(row indices) -> (loss, named parts)``. The module is in
    training mode meanwhile and in eval mode after. Returns the mean of every named part over the minibatches: the
    online update of the curiosity models (:class:`CuriosityRewardVecEnv`'s forward model and the VAE features of
    :class:`genie_gym.agents.curiosity_wm.WorldModelCuriosityVecEnv`)."""
    sums: dict[str, float] = {}
    batches = 0
    module.train()
    for _ in range(epochs):
        order = rng.permutation(rows)
        for first in range(0, rows, minibatch_size):
            value, parts = loss(order[first : first + minibatch_size])
            optimizer.zero_grad(set_to_none=True)
            value.backward()
            optimizer.step()
            for name, part in parts.items():
                sums[name] = sums.get(name, 0.0) + part
            batches += 1
    module.eval()
    return {name: total / batches for name, total in sums.items()}


class OnlineTraining:
    """What the two curiosity wrappers share (:class:`CuriosityRewardVecEnv`,
    :class:`genie_gym.agents.curiosity_wm.WorldModelCuriosityVecEnv`): they buffer what they see, train their networks
    on it every ``update_every`` steps with :func:`train_epochs` and keep the last losses and the count of updates.

    A subclass calls :meth:`_init_training`, sets ``device`` and ``optimizer`` and defines :meth:`_buffered_loss`.
    """

    device: torch.device
    optimizer: torch.optim.Optimizer | None

    def _init_training(self, seed: int, update_every: int, epochs: int, minibatch_size: int) -> None:
        self.update_every, self.epochs, self.minibatch_size = int(update_every), int(epochs), int(minibatch_size)
        self._rng = np.random.default_rng(seed)
        self._buffer: list[Any] = []
        self.updates = 0
        self.last_losses: dict[str, float] = {}

    def _tensor(self, array: np.ndarray) -> torch.Tensor:
        return torch.from_numpy(np.ascontiguousarray(array)).to(self.device)

    def _buffered_loss(self, buffer: list[Any]) -> tuple[nn.Module, int, BatchLoss]:
        """The module that trains, the number of rows in ``buffer`` and ``loss(row indices)``
        (:func:`train_epochs`)."""
        raise NotImplementedError

    def train_on_buffer(self) -> dict[str, float]:
        """Train on the buffered steps, empty the buffer; returns the mean losses."""
        if not self._buffer:
            return self.last_losses
        buffer, self._buffer = self._buffer, []
        module, rows, loss = self._buffered_loss(buffer)
        assert self.optimizer is not None
        self.last_losses = train_epochs(module, self.optimizer, loss, rows, self.epochs, self.minibatch_size,
                                        self._rng)
        self.updates += 1
        return self.last_losses


class ForwardModel(nn.Module):
    """Predicts the next frame's features: ``(B, D)`` features and int ``(B,)`` actions -> ``(B, D)``.

    The one-hot action enters every layer (as in Burda et al.), so the prediction cannot ignore it.
    """

    def __init__(self, feature_dim: int, num_actions: int = NUM_ACTIONS, hidden: int = 512) -> None:
        super().__init__()
        self.num_actions = num_actions
        self.layers = nn.ModuleList([nn.Linear(feature_dim + num_actions, hidden),
                                     nn.Linear(hidden + num_actions, hidden),
                                     nn.Linear(hidden + num_actions, feature_dim)])

    def forward(self, features: torch.Tensor, actions: torch.Tensor) -> torch.Tensor:
        one_hot = F.one_hot(actions.long(), self.num_actions).to(features.dtype)
        x = features
        for i, layer in enumerate(self.layers):
            x = layer(torch.cat([x, one_hot], dim=1))
            if i < len(self.layers) - 1:
                x = F.leaky_relu(x)
        return x


class CuriosityModel(nn.Module):
    """Feature map + forward model; ``intrinsic_reward`` scores transitions, ``loss`` trains them.

    Args:
        kind: ``"rf"`` (fixed random features) or ``"vae"`` (VAE posterior mean, trained).
        feature_dim: size of the features (512 in Burda et al.).
        num_actions: size of the discrete action space.
        seed: seeds the initial weights (the random features of ``rf`` are these weights).
    """

    def __init__(self, kind: str = "rf", feature_dim: int = 512, num_actions: int = NUM_ACTIONS, seed: int = 0) -> None:
        super().__init__()
        if kind not in CURIOSITY_KINDS:
            raise ValueError(f"curiosity kind must be one of {CURIOSITY_KINDS}, got {kind!r}")
        self.kind, self.feature_dim, self.num_actions = kind, int(feature_dim), int(num_actions)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed)
            self.encoder, self.decoder = feature_networks(kind, self.feature_dim)
            self.forward_model = ForwardModel(self.feature_dim, self.num_actions)

    def features(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(B, 64, 64, 3)`` -> float ``(B, feature_dim)``, detached (the forward model never moves them)."""
        with torch.no_grad():
            return encoded_features(self.encoder, self.kind, self.feature_dim, frames)

    @torch.no_grad()
    def intrinsic_reward(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor) -> torch.Tensor:
        """SSE reward ``0.5 * ||f(phi(obs), a) - phi(next_obs)||^2``: uint8 frames ``(B, 64, 64, 3)``, int actions
        ``(B,)`` -> float ``(B,)``."""
        predicted = self.forward_model(self.features(obs), actions)
        return 0.5 * (predicted - self.features(next_obs)).pow(2).sum(dim=1)

    def loss(self, obs: torch.Tensor, actions: torch.Tensor, next_obs: torch.Tensor) -> tuple[torch.Tensor, dict]:
        """Training loss on a batch of transitions (same shapes as :meth:`intrinsic_reward`).

        Returns ``(loss, parts)``: the forward model's mean SSE per transition, plus for ``vae`` the VAE's
        reconstruction (sum of squared pixel errors per frame) and KL terms; ``parts`` holds their float values.
        """
        forward_loss = 0.5 * (self.forward_model(self.features(obs), actions)
                              - self.features(next_obs)).pow(2).sum(dim=1).mean()
        parts = {"forward_loss": float(forward_loss.detach())}
        loss = forward_loss
        if self.kind == "vae":
            vae, vae_parts = vae_loss(self.encoder, self.decoder, frames_to_input(torch.cat([obs, next_obs])))
            loss = loss + vae
            parts.update(vae_parts)
        return loss, parts


class CuriosityRewardVecEnv(OnlineTraining, VecEnvWrapper):
    """Replaces a VecEnv's reward with the curiosity reward of :class:`CuriosityModel` and trains the model online.

    Every ``update_every`` steps (of all envs together: ``update_every * num_envs`` transitions) the model trains
    ``epochs`` passes over those transitions in minibatches of ``minibatch_size`` (Adam, ``lr``), then the buffer
    is emptied, as Burda et al. train on each PPO rollout. The env's own reward is kept in
    ``info["extrinsic_reward"]``; the last training losses are in :attr:`last_losses`. Observations must be RGB
    uint8 ``(64, 64, 3)``. When an env's episode ends, the transition is scored against its
    ``info["terminal_observation"]`` (SB3's VecEnvs reset on their own and return the new episode's first frame).

    Args:
        venv: the environments (real games or dreams).
        kind, feature_dim, seed: see :class:`CuriosityModel`.
        update_every, epochs, minibatch_size, lr: the online training schedule.
        device: where the curiosity model runs.
    """

    def __init__(self, venv: VecEnv, kind: str = "rf", feature_dim: int = 512, seed: int = 0, update_every: int = 64,
                 epochs: int = 3, minibatch_size: int = 256, lr: float = 1e-4, device: str = "cpu") -> None:
        shape = getattr(venv.observation_space, "shape", None)
        if shape != (FRAME_SIZE, FRAME_SIZE, 3):
            raise ValueError(f"curiosity rewards need RGB uint8 ({FRAME_SIZE}, {FRAME_SIZE}, 3) observations, got "
                             f"{shape}: wrap the env before any channel-first transpose or frame stacking")
        if update_every < 1 or epochs < 1 or minibatch_size < 1:
            raise ValueError("update_every, epochs and minibatch_size must be >= 1")
        super().__init__(venv)
        self.device = torch.device(device)
        self.model = CuriosityModel(kind, feature_dim, int(venv.action_space.n), seed).to(self.device)
        self.optimizer = torch.optim.Adam([p for p in self.model.parameters() if p.requires_grad], lr=lr)
        self._init_training(seed, update_every, epochs, minibatch_size)
        self._last_obs: np.ndarray | None = None
        self._actions: np.ndarray | None = None

    def reset(self) -> np.ndarray:
        obs = self.venv.reset()
        self._last_obs = obs.copy()
        return obs

    def step_async(self, actions: np.ndarray) -> None:
        self._actions = np.asarray(actions, dtype=np.int64).reshape(self.num_envs).copy()
        self.venv.step_async(actions)

    def step_wait(self) -> VecEnvStepReturn:
        if self._last_obs is None or self._actions is None:
            raise RuntimeError("call reset() before step()")
        obs, rewards, dones, infos = self.venv.step_wait()
        next_obs = obs.copy()
        for i, (done, info) in enumerate(zip(dones, infos, strict=True)):
            info["extrinsic_reward"] = float(rewards[i])
            if done and info.get("terminal_observation") is not None:
                next_obs[i] = info["terminal_observation"]
        reward = self.model.intrinsic_reward(self._tensor(self._last_obs), self._tensor(self._actions),
                                             self._tensor(next_obs)).cpu().numpy().astype(np.float32)
        self._buffer.append((self._last_obs, self._actions, next_obs))
        if len(self._buffer) >= self.update_every:
            self.train_on_buffer()
        self._last_obs = obs.copy()
        return obs, reward, dones, infos

    def _buffered_loss(self, buffer: list[Any]) -> tuple[nn.Module, int, BatchLoss]:
        """The curiosity model trains on the buffered transitions ``(obs, actions, next_obs)``."""
        obs, actions, next_obs = (np.concatenate(parts) for parts in zip(*buffer, strict=True))

        def loss(rows: np.ndarray) -> tuple[torch.Tensor, dict[str, float]]:
            return self.model.loss(self._tensor(obs[rows]), self._tensor(actions[rows]), self._tensor(next_obs[rows]))

        return self.model, len(obs), loss

    def state(self) -> dict[str, Any]:
        """Everything needed to resume: the model's and the optimizer's state (tensors and numbers only)."""
        return {"model": self.model.state_dict(), "optimizer": self.optimizer.state_dict(), "updates": self.updates}

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore :meth:`state` (the buffer starts empty)."""
        self.model.load_state_dict(state["model"])
        self.optimizer.load_state_dict(state["optimizer"])
        self.updates = int(state["updates"])
