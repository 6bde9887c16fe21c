"""One uncertainty reward for the real game and the dream (issue 33, docs/DESIGN.md §7), on real SMB frames and the
shipped world model: it equals a hand computation from one forward pass, and the real-game wrapper and the dream pay
the same number for the same frames and actions."""

from __future__ import annotations

import math

import gymnasium as gym
import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv

from genie_gym.agents.uncertainty_reward import UncertaintyRewardVecEnv
from genie_gym.envs.dream_env import GenieDreamEnv
from genie_gym.envs.retro_env import GenieRetroEnv
from genie_gym.uncertainty import (
    REWARD_CONTEXT_FRAMES,
    ContextWindows,
    sequence_uncertainty,
    transition_uncertainty,
)
from genie_gym.world_model import WorldModel

ACTIONS = [0, 0, 4, 0, 1, 4, 0, 3]


@pytest.fixture(scope="module")
def world_model() -> WorldModel:
    return WorldModel.from_pretrained("smb")


@pytest.fixture(scope="module")
def real_run(world_model):
    """The real game played with ACTIONS under the uncertainty wrapper: (frames (T+1, 64, 64, 3), rewards (T,),
    maps (T, h, w))."""
    wrapped = UncertaintyRewardVecEnv(DummyVecEnv([lambda: GenieRetroEnv("SMB", max_episode_steps=100)]), world_model)
    frames, rewards, maps = [wrapped.reset()[0]], [], []
    for action in ACTIONS:
        obs, reward, done, infos = wrapped.step(np.array([action]))
        assert not done[0]
        frames.append(obs[0])
        rewards.append(float(reward[0]))
        maps.append(infos[0]["uncertainty_map"])
    wrapped.close()
    return np.stack(frames), np.array(rewards), np.stack(maps)


def hand_reward(world_model: WorldModel, frames: np.ndarray, actions: list[int],
                action: int) -> tuple[float, np.ndarray]:
    """The paper's reward by hand: the frames' ids, the next frame all masked, ONE forward pass of the dynamics model
    (``Dynamics.forward``, the whole sequence), softmax entropies / log(V) of the next frame's tokens, the mean of the
    top 25%."""
    dynamics = world_model.dynamics
    tokens = world_model.encode(frames[None])  # (1, T, h, w)
    masked = torch.full_like(tokens[:, :1], dynamics.mask_id)
    with torch.no_grad():
        logits = dynamics(torch.cat([tokens, masked], 1), torch.tensor([[*actions, action]]))[0, -1].double()
    probs = torch.softmax(logits, dim=-1).numpy()
    entropy = -(probs * np.log(np.clip(probs, 1e-300, None))).sum(-1) / math.log(logits.shape[-1])  # (h, w)
    values = np.sort(entropy.ravel())[::-1]
    return float(values[: math.ceil(0.25 * values.size)].mean()), entropy


def test_reward_is_the_first_pass_entropies_of_the_frames_before_the_step(world_model, real_run):
    frames, rewards, maps = real_run
    assert REWARD_CONTEXT_FRAMES == 2
    for t, action in enumerate(ACTIONS):
        first = max(0, t - 1)  # the 2 frames before the step (1 right after the reset)
        expected, entropy = hand_reward(world_model, frames[first : t + 1], ACTIONS[first:t], action)
        assert rewards[t] == pytest.approx(expected, abs=2e-5), t
        np.testing.assert_allclose(maps[t], entropy, atol=2e-5)
        # the same as the first MaskGIT pass of the dreaming code (a one-step dream from that context)
        state = world_model.start(frames[None, first : t + 1], np.array([ACTIONS[first:t]], dtype=np.int64))
        _, stream_entropy = world_model.step(state, np.array([action]),
                                             world_model.dream_settings(maskgit_steps=1, temperature=1.0),
                                             torch.Generator().manual_seed(0))
        np.testing.assert_allclose(maps[t], stream_entropy[0].numpy(), atol=2e-5)
    assert rewards.min() > 0 and rewards.std() > 0  # real, varying numbers, not a constant
    # more frames given: only the last two count
    longer, _ = transition_uncertainty(world_model, frames[None, :5], np.array([ACTIONS[:4]]), np.array([ACTIONS[4]]))
    assert longer[0] == pytest.approx(rewards[4], abs=1e-6)


def test_the_dream_pays_what_the_real_game_wrapper_pays_for_the_same_frames(world_model, real_run):
    frames, rewards, _ = real_run
    dream = GenieDreamEnv(world_model=world_model)
    for t, action in enumerate(ACTIONS):  # t = 0: a one-frame context, as right after a real reset
        dream.reset(seed=0, options={"frames": frames[: t + 1], "actions": np.array(ACTIONS[:t], dtype=np.int64)})
        _, reward, _, _, info = dream.step(action)
        assert reward == pytest.approx(rewards[t], abs=1e-6), t
    # and the sampling settings of the dream do not change the reward (it is not the entropies it samples with)
    paid = []
    for settings in ({"maskgit_steps": 1, "temperature": 1.0}, {"maskgit_steps": 8, "temperature": 0.0},
                     {"maskgit_steps": 4, "hold_bias": 2.0, "action_guidance": 1.0}):
        dream = GenieDreamEnv(world_model=world_model, **settings)
        dream.reset(seed=1, options={"frames": frames[:3], "actions": np.array(ACTIONS[:2])})
        paid.append(dream.step(ACTIONS[2])[1])
    assert paid == pytest.approx([rewards[2]] * 3, abs=1e-6)


def test_sequence_uncertainty_pays_every_step_of_a_clip_as_the_real_game_wrapper_does(world_model, real_run):
    """What genie eval --grid-overlay draws over predicted frames: each step's reward and map, one clip at a time."""
    frames, rewards, maps = real_run
    clip_rewards, clip_maps = sequence_uncertainty(world_model, frames[None], np.array([ACTIONS]))
    assert clip_rewards.shape == (1, len(ACTIONS)) and clip_maps.shape == (1, *maps.shape)
    np.testing.assert_allclose(clip_rewards[0], rewards, atol=1e-6)
    np.testing.assert_allclose(clip_maps[0], maps, atol=1e-6)
    with pytest.raises(ValueError, match="T >= 2"):
        sequence_uncertainty(world_model, frames[None, :1], np.zeros((1, 0), np.int64))


class ReplayEnv(gym.Env):
    """Shows given frames one after another, whatever the action (a fixed real or dreamed run)."""

    observation_space = gym.spaces.Box(0, 255, (64, 64, 3), np.uint8)
    action_space = gym.spaces.Discrete(5)

    def __init__(self, frames: np.ndarray) -> None:
        self.frames, self.t = frames, 0

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self.frames[0], {}

    def step(self, action):
        self.t += 1
        return self.frames[self.t], 0.0, False, self.t == len(self.frames) - 1, {}


def test_a_dreams_later_steps_are_paid_as_the_real_game_wrapper_pays_its_frames(world_model, real_run):
    frames, _, _ = real_run
    dream = GenieDreamEnv(world_model=world_model, maskgit_steps=2)
    context = frames[:2]
    dream.reset(seed=3, options={"frames": context, "actions": np.array(ACTIONS[:1])})
    dreamed, dream_rewards = [], []
    for action in ACTIONS[1:6]:
        obs, reward, *_ = dream.step(action)
        dreamed.append(obs)
        dream_rewards.append(reward)
    # the same frames (2 real, then the dream's) played back through the real-game wrapper
    wrapped = UncertaintyRewardVecEnv(DummyVecEnv([lambda: ReplayEnv(np.concatenate([context, dreamed]))]),
                                      world_model)
    wrapped.reset()
    wrapper_rewards = [float(wrapped.step(np.array([action]))[1][0]) for action in ACTIONS[:6]]
    assert wrapper_rewards[1:] == pytest.approx(dream_rewards, abs=1e-6)


def test_context_windows_keep_the_last_two_frames_per_env_and_restart_at_resets():
    windows = ContextWindows(2)
    frames = np.arange(6, dtype=np.uint8)[:, None, None, None] * np.ones((1, 64, 64, 3), np.uint8)
    windows.reset(frames[[0, 1]])
    windows.push(frames[[2, 3]], np.array([4, 1]))
    windows.push(frames[[4, 5]], np.array([0, 3]))
    windows.reset(frames[[5, 5]], np.array([1]))  # env 1's episode ended: it starts again from one frame
    (envs_a, frames_a, actions_a), (envs_b, frames_b, actions_b) = windows.groups()
    assert list(envs_a) == [1] and frames_a.shape == (1, 1, 64, 64, 3) and actions_a.shape == (1, 0)
    assert list(envs_b) == [0] and [int(f[0, 0, 0]) for f in frames_b[0]] == [2, 4] and actions_b.tolist() == [[0]]
    with pytest.raises(RuntimeError, match="reset"):
        ContextWindows(1).groups()
