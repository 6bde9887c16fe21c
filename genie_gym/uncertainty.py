"""Token-entropy uncertainty reward of the AutoExplore agent (paper §4, Eq. 2-4): one definition for the real game and
the dream (docs/DESIGN.md §7).

The dynamics model predicts a categorical distribution over the tokenizer's codebook for every token of a
predicted frame. The uncertainty of a token is its entropy normalised by ``log(codebook size)`` (so it lies in
``[0, 1]``); the reward of a frame is the mean of the top ``top_fraction`` (25% in the paper) of its token
uncertainties, because most tokens show static background and carry no information.

Which distributions: those of the world model's first MaskGIT pass (every token of the next frame masked) given the
:data:`REWARD_CONTEXT_FRAMES` frames before the step and the actions between them and of the step
(:func:`transition_uncertainty`). They depend on nothing but those frames and actions, so a real-game wrapper
(``genie_gym.agents.uncertainty_reward``) and a dream (``genie_gym.envs.dream_batch``), which both call it, pay the
same reward for the same transition. Why not the entropies a dream samples with: those come from the step at which
MaskGIT fixes each token (later steps see more of the frame and are more certain), from the dream's whole context
window and from its sampling settings, none of which the real game has.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import numpy as np
import torch

if TYPE_CHECKING:
    from genie_gym.world_model import WorldModel


def normalized_token_entropy(logits: torch.Tensor) -> torch.Tensor:
    """Entropy of ``softmax(logits)`` over the last dim, divided by ``log(num_codes)``.

    Args:
        logits: float ``(..., num_codes)``.
    Returns:
        float ``(...)`` in ``[0, 1]``.
    """
    num_codes = logits.shape[-1]
    log_probs = torch.log_softmax(logits.float(), dim=-1)
    entropy = -(log_probs.exp() * log_probs).sum(dim=-1)
    return (entropy / math.log(num_codes)).clamp_(0.0, 1.0)


class TokenEntropyReward:
    """Reward = mean of the highest ``top_fraction`` of a frame's normalised token uncertainties.

    Args:
        top_fraction: fraction of tokens (by highest uncertainty) averaged; ``1.0`` averages all tokens.
    """

    def __init__(self, top_fraction: float = 0.25) -> None:
        if not 0.0 < top_fraction <= 1.0:
            raise ValueError(f"top_fraction must be in (0, 1], got {top_fraction}")
        self.top_fraction = float(top_fraction)

    def __call__(self, uncertainty: torch.Tensor) -> torch.Tensor:
        """Score frames from their per-token uncertainty maps.

        Args:
            uncertainty: float ``(B, h, w)`` (or ``(B, n_tokens)``) normalised entropies in ``[0, 1]``.
        Returns:
            float ``(B,)`` rewards in ``[0, 1]``.
        """
        flat = uncertainty.reshape(uncertainty.shape[0], -1).float()
        k = max(1, math.ceil(self.top_fraction * flat.shape[1]))
        return flat.topk(k, dim=1).values.mean(dim=1)


REWARD_CONTEXT_FRAMES = 2
"""Real frames before a step that the uncertainty of the step is conditioned on (the paper gives the model 2)."""


@torch.no_grad()
def first_pass_entropy(world_model: WorldModel, frames: np.ndarray, actions: np.ndarray,
                       action: np.ndarray) -> torch.Tensor:
    """Normalised token entropies of the world model's first MaskGIT pass over the next frame.

    The frames are encoded as one clip (the tokenizer is causal in time, so a clip of the same frames always gives the
    same ids), every token of the next frame is masked, and one forward pass of the dynamics model gives each token's
    categorical distribution: the plain model's, whatever the dream's sampling settings (action guidance, hold bias,
    temperature), so the number does not depend on how a dream samples.

    Args:
        world_model: the model whose uncertainty it is.
        frames: uint8 ``(B, T, 64, 64, 3)``, ``T >= 1``: the frames before the step, oldest first.
        actions: int ``(B, T - 1)``: ``actions[:, t]`` led from ``frames[:, t]`` to ``frames[:, t + 1]``.
        action: int ``(B,)``: the action of the step, taken at ``frames[:, -1]``.
    Returns:
        float ``(B, h, w)`` in ``[0, 1]``, on the CPU.
    """
    frames = np.asarray(frames)
    if frames.ndim != 5 or frames.shape[1] < 1:
        raise ValueError(f"frames must be uint8 (B, T >= 1, 64, 64, 3), got shape {frames.shape}")
    batch, length = frames.shape[:2]
    actions = np.asarray(actions).reshape(batch, length - 1)
    actions = actions if actions.size else actions.astype(np.int64)  # no actions (one frame): any empty array
    all_actions = world_model._validate_actions(np.concatenate([actions, np.asarray(action).reshape(batch, 1)], 1),
                                                batch, length)
    dynamics = world_model.dynamics
    entropies = []
    group = world_model.dreams_per_pass  # bounds the memory of one pass, as the dreams' own steps do
    for first in range(0, batch, group):
        rows = slice(first, first + group)
        tokens = world_model.encode(frames[rows])
        masked = torch.full_like(tokens[:, :1], dynamics.mask_id)
        inputs = torch.cat([tokens, masked], dim=1)
        frame_actions = dynamics.frame_actions(torch.from_numpy(all_actions[rows]).to(tokens.device), length + 1)
        logits = dynamics.head(dynamics.hidden(inputs, frame_actions)[:, -1])  # (b, h, w, num_codes)
        entropies.append(normalized_token_entropy(logits).cpu())
    return torch.cat(entropies)


def transition_uncertainty(world_model: WorldModel, frames: np.ndarray, actions: np.ndarray, action: np.ndarray,
                           top_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """AutoExplore's reward of one step, the one definition of the real game and the dream (docs/DESIGN.md §7).

    The last :data:`REWARD_CONTEXT_FRAMES` of ``frames`` (with the actions between them) are the context,
    :func:`first_pass_entropy` gives the entropies of the next frame's tokens, and :class:`TokenEntropyReward`
    averages the highest ``top_fraction`` of them. Arguments as :func:`first_pass_entropy`.

    Returns:
        ``(rewards float32 (B,), uncertainty maps float32 (B, h, w))``.
    """
    frames, actions = np.asarray(frames), np.asarray(actions)
    if frames.ndim != 5 or frames.shape[1] < 1:
        raise ValueError(f"frames must be uint8 (B, T >= 1, 64, 64, 3), got shape {frames.shape}")
    batch, length = frames.shape[:2]
    if actions.shape != (batch, length - 1):
        raise ValueError(f"actions must be (B, T - 1) = ({batch}, {length - 1}) for frames {frames.shape}, "
                         f"got {actions.shape}")
    first = length - min(REWARD_CONTEXT_FRAMES, length)
    frames, actions = frames[:, first:], actions[:, first:]
    entropy = first_pass_entropy(world_model, frames, actions, action)
    return TokenEntropyReward(top_fraction)(entropy).numpy().astype(np.float32), entropy.numpy().astype(np.float32)


def sequence_uncertainty(world_model: WorldModel, frames: np.ndarray, actions: np.ndarray,
                         top_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
    """:func:`transition_uncertainty` of every step of clips: step ``t`` leads from ``frames[:, t]`` to
    ``frames[:, t + 1]`` under ``actions[:, t]``, its context is the :data:`REWARD_CONTEXT_FRAMES` frames up to
    ``frames[:, t]`` (fewer at the start). What a dream pays for each of its frames, or the real-game wrapper for each
    real one, and the maps ``genie play``'s overlay and ``genie eval --grid-overlay`` draw.

    Args:
        frames: uint8 ``(B, T, 64, 64, 3)``, ``T >= 2``; actions: int ``(B, T - 1)``.
    Returns:
        ``(rewards float32 (B, T - 1), uncertainty maps float32 (B, T - 1, h, w))``.
    """
    frames, actions = np.asarray(frames), np.asarray(actions)
    if frames.ndim != 5 or frames.shape[1] < 2:
        raise ValueError(f"frames must be uint8 (B, T >= 2, 64, 64, 3), got shape {frames.shape}")
    if actions.shape != (frames.shape[0], frames.shape[1] - 1):
        raise ValueError(f"actions must be (B, T - 1) = ({frames.shape[0]}, {frames.shape[1] - 1}) for frames "
                         f"{frames.shape}, got {actions.shape}")
    rewards, maps = [], []
    for step in range(actions.shape[1]):
        first = max(0, step + 1 - REWARD_CONTEXT_FRAMES)
        step_rewards, step_maps = transition_uncertainty(world_model, frames[:, first : step + 1],
                                                         actions[:, first:step], actions[:, step], top_fraction)
        rewards.append(step_rewards)
        maps.append(step_maps)
    return np.stack(rewards, axis=1), np.stack(maps, axis=1)


class ContextWindows:
    """The last :data:`REWARD_CONTEXT_FRAMES` real frames of each of ``num_envs`` envs and the actions between them,
    for the rewards that a world model computes from a real game's transitions.

    Right after a reset an env has one frame (the dynamics model starts from one frame as a dream does from a
    one-frame context); :meth:`groups` splits the envs by context length, since one forward pass takes one length.
    """

    def __init__(self, num_envs: int) -> None:
        self.num_envs = int(num_envs)
        self.frames: list[list[np.ndarray]] = [[] for _ in range(self.num_envs)]
        self.actions: list[list[int]] = [[] for _ in range(self.num_envs)]

    def reset(self, obs: np.ndarray, envs: np.ndarray | None = None) -> None:
        """Start ``envs`` (default: all) afresh from their frames ``obs[i]``."""
        for i in range(self.num_envs) if envs is None else envs:
            self.frames[i], self.actions[i] = [np.array(obs[i])], []

    def push(self, obs: np.ndarray, actions: np.ndarray) -> None:
        """Every env took ``actions[i]`` and reached ``obs[i]``."""
        for i in range(self.num_envs):
            if not self.frames[i]:
                raise RuntimeError("call reset() before step()")
            self.frames[i] = [*self.frames[i], np.array(obs[i])][-REWARD_CONTEXT_FRAMES:]
            moves = [*self.actions[i], int(actions[i])]
            self.actions[i] = moves[len(moves) - (len(self.frames[i]) - 1):]

    def groups(self) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """``[(env indices, frames uint8 (n, T, 64, 64, 3), actions int64 (n, T - 1))]``, one entry per length."""
        lengths = np.array([len(frames) for frames in self.frames])
        if (lengths == 0).any():
            raise RuntimeError("call reset() before step()")
        out = []
        for length in np.unique(lengths):
            envs = np.flatnonzero(lengths == length)
            out.append((envs, np.stack([np.stack(self.frames[i]) for i in envs]),
                        np.array([self.actions[i] for i in envs], dtype=np.int64).reshape(len(envs), length - 1)))
        return out

    def uncertainty(self, world_model: WorldModel, actions: np.ndarray,
                    top_fraction: float = 0.25) -> tuple[np.ndarray, np.ndarray]:
        """:func:`transition_uncertainty` of every env's next step under ``actions (num_envs,)``."""
        rewards, maps = np.zeros(self.num_envs, np.float32), None
        for envs, frames, context_actions in self.groups():
            group_rewards, group_maps = transition_uncertainty(world_model, frames, context_actions, actions[envs],
                                                               top_fraction)
            if maps is None:
                maps = np.zeros((self.num_envs, *group_maps.shape[1:]), np.float32)
            rewards[envs], maps[envs] = group_rewards, group_maps
        return rewards, maps
