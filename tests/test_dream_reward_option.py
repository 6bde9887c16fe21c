"""The dream envs' ``reward`` option (docs/DESIGN.md §7, §9): ``"none"`` pays 0.0 and leaves the uncertainty map out,
the dreamed frames stay those of ``"uncertainty"``, and a step's skipped reward computed afterwards
(``DreamBatch.last_step_uncertainty``) is what the step would have paid. On the tiny world-model checkpoint, with the
real SMB emulator for contexts."""

from __future__ import annotations

import gymnasium as gym
import numpy as np
import pytest

from genie_gym.envs.dream_batch import DREAM_REWARDS, DreamBatch
from genie_gym.envs.dream_env import GenieDreamEnv
from genie_gym.envs.dream_vec_env import GenieDreamVecEnv
from genie_gym.envs.dream_vector_env import GenieDreamVectorEnv
from genie_gym.world_model import WorldModel

TINY_DREAM_ID = "GenieDream-TinySMB-v0"  # registered by the tiny_checkpoint fixture (conftest.py)
ACTIONS = [0, 4, 0, 1, 3, 2]


@pytest.fixture(scope="module")
def world_model(tiny_checkpoint) -> WorldModel:
    return WorldModel.from_pretrained(tiny_checkpoint)


def _play(env: gym.Env, seed: int = 5) -> tuple[np.ndarray, list[float], list[dict]]:
    frames, rewards, infos = [env.reset(seed=seed)[0]], [], []
    for action in ACTIONS:
        obs, reward, terminated, truncated, info = env.step(action)
        assert not terminated and not truncated
        frames.append(obs)
        rewards.append(reward)
        infos.append(info)
    return np.stack(frames), rewards, infos


def test_reward_none_pays_nothing_and_dreams_the_same_frames(tiny_checkpoint):
    paid_env, free_env = (gym.make(TINY_DREAM_ID, reward=reward) for reward in ("uncertainty", "none"))
    try:
        assert (paid_env.unwrapped.reward, free_env.unwrapped.reward) == ("uncertainty", "none")
        paid_frames, paid, paid_infos = _play(paid_env)
        free_frames, free, free_infos = _play(free_env)
    finally:
        paid_env.close()
        free_env.close()
    np.testing.assert_array_equal(free_frames, paid_frames)
    assert free == [0.0] * len(ACTIONS) and all(type(reward) is float for reward in free)
    assert all("uncertainty_map" not in info for info in free_infos)
    assert [info["step"] for info in free_infos] == [info["step"] for info in paid_infos]
    assert all(info["uncertainty_map"].shape == (8, 8) for info in paid_infos) and min(paid) > 0


def test_a_skipped_reward_computed_later_or_turned_on_mid_dream_is_what_the_dream_pays(world_model):
    paid_env = GenieDreamEnv(world_model=world_model)
    _, paid, paid_infos = _play(paid_env)
    env = GenieDreamEnv(world_model=world_model, reward="none")
    env.reset(seed=5)
    assert env.dreams.last_step_uncertainty() is None  # nothing dreamed yet
    for t, action in enumerate(ACTIONS):
        if t == 3:
            env.reward = "uncertainty"  # from the next step on, the same reward as a dream that paid all along
        _, reward, _, _, info = env.step(action)
        rewards, maps = env.dreams.last_step_uncertainty()
        assert rewards[0] == pytest.approx(paid[t], abs=1e-7), t
        np.testing.assert_array_equal(maps[0], paid_infos[t]["uncertainty_map"])
        if t < 3:
            assert reward == 0.0 and "uncertainty_map" not in info
        else:
            assert reward == paid[t]
            np.testing.assert_array_equal(info["uncertainty_map"], paid_infos[t]["uncertainty_map"])
    env.reset(seed=5)
    assert env.dreams.last_step_uncertainty() is None  # a new dream forgets the old one's last step


def test_batched_dreams_take_the_reward_option(world_model):
    actions = np.array([0, 4, 1])
    vecs = [GenieDreamVecEnv(3, world_model=world_model, max_episode_steps=2, seed=2, reward=reward)
            for reward in DREAM_REWARDS]
    starts = [vec.reset() for vec in vecs]
    np.testing.assert_array_equal(starts[0], starts[1])
    (paid_obs, paid, _, paid_infos), (free_obs, free, _, free_infos) = (vec.step(actions) for vec in vecs)
    np.testing.assert_array_equal(free_obs, paid_obs)
    assert paid.min() > 0 and (free == 0).all() and free.dtype == paid.dtype
    assert all("uncertainty_map" in info for info in paid_infos) and not any(free_infos)
    for vec in vecs:
        vec.close()

    vectors = [GenieDreamVectorEnv(2, world_model=world_model, reward=reward) for reward in DREAM_REWARDS]
    for vector in vectors:
        vector.reset(seed=4)
    (paid_obs, paid, *_, paid_info), (free_obs, free, *_, free_info) = (vector.step(actions[:2])
                                                                         for vector in vectors)
    np.testing.assert_array_equal(free_obs, paid_obs)
    assert paid.min() > 0 and (free == 0).all()
    assert paid_info["uncertainty_map"].shape == (2, 8, 8) and paid_info["_uncertainty_map"].all()
    assert "uncertainty_map" not in free_info and "_uncertainty_map" not in free_info and free_info["_step"].all()
    for vector in vectors:
        vector.close()


def test_a_bad_reward_is_refused_with_the_choices(world_model):
    with pytest.raises(ValueError, match=r"reward must be one of \['uncertainty', 'none'\]"):
        DreamBatch(world_model=world_model, reward="entropy")
    env = GenieDreamEnv(world_model=world_model)
    with pytest.raises(ValueError, match="reward must be one of"):
        env.reward = None
    assert env.reward == "uncertainty"
