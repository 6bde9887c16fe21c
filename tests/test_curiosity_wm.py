"""RF / VAE curiosity on top of the world model, the paper's Table 6 baselines (issue 33): the SSE between the features
of the world model's predicted next frame and of the real one. Real SMB frames, the real emulator, the shipped world
model."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv
from test_uncertainty_definition import ReplayEnv

from genie_gym.agents.curiosity_wm import FeatureMap, WorldModelCuriosityVecEnv
from genie_gym.cli import main
from genie_gym.envs.retro_env import GenieRetroEnv
from genie_gym.world_model import WorldModel


@pytest.fixture(scope="module")
def world_model() -> WorldModel:
    return WorldModel.from_pretrained("smb")


@pytest.fixture(scope="module")
def real_frames() -> np.ndarray:
    """12 real SMB frames (the player runs right and jumps), uint8 (12, 64, 64, 3)."""
    env = GenieRetroEnv("SMB")
    frames = [env.reset(seed=0)[0]]
    for action in [0, 0, 0, 4, 4, 0, 0, 0, 4, 0, 0]:
        frames.append(env.step(action)[0])
    env.close()
    return np.stack(frames)


@pytest.mark.parametrize("kind", ["rf", "vae"])
def test_reward_is_zero_for_a_perfect_prediction_and_grows_with_its_error(real_frames, kind):
    features = FeatureMap(kind, feature_dim=64, seed=0)
    real = torch.from_numpy(real_frames[5:9])
    assert torch.all(features.sse(real, real) == 0)
    other = torch.from_numpy(real_frames[:4]).float()
    errors = []
    for weight in (0.0, 0.05, 0.2, 0.5, 1.0):  # the prediction drifts from the real frame towards another one
        predicted = ((1 - weight) * real.float() + weight * other).round().to(torch.uint8)
        noise = torch.from_numpy(np.random.default_rng(0).integers(-40, 41, real.shape)) * (weight > 0)
        predicted = (predicted.int() + (noise * weight).round().int()).clamp(0, 255).to(torch.uint8)
        errors.append(features.sse(predicted, real))
    errors = torch.stack(errors)  # (5 weights, 4 frames)
    assert torch.all(errors[0] == 0)
    assert torch.all(errors[1:] > 0) and torch.all(errors[1:] > errors[:-1]), errors
    # the features see the frames, not their order in a batch
    assert torch.allclose(features.sse(real.flip(0), other.to(torch.uint8).flip(0)),
                          features.sse(real, other.to(torch.uint8)).flip(0))


@pytest.mark.parametrize("kind", ["rf", "vae"])
def test_wrapper_compares_the_world_models_prediction_with_the_real_next_frame(world_model, real_frames, kind):
    actions = [0, 0, 0, 4]
    # the world model's most likely next frame of the first two real frames under RIGHT
    state = world_model.start(real_frames[None, :2], np.array([[actions[0]]]))
    prediction = world_model.step(state, np.array([actions[1]]),
                                  world_model.dream_settings(maskgit_steps=1, temperature=0.0))[0][0]
    assert not np.array_equal(prediction, real_frames[2])  # the model is not perfect on this frame
    for third, zero in ((prediction, True), (real_frames[2], False)):
        venv = DummyVecEnv([lambda third=third: ReplayEnv(np.stack([real_frames[0], real_frames[1], third,
                                                                    real_frames[3]]))])
        wrapped = WorldModelCuriosityVecEnv(venv, world_model, kind, feature_dim=64, seed=0, update_every=100)
        wrapped.reset()
        wrapped.step(np.array([actions[0]]))
        _, reward, _, infos = wrapped.step(np.array([actions[1]]))
        np.testing.assert_array_equal(infos[0]["predicted_frame"], prediction)
        expected = wrapped.features.sse(torch.from_numpy(prediction[None]), torch.from_numpy(third[None]))
        assert reward[0] == pytest.approx(float(expected[0]), rel=1e-3, abs=1e-7)  # float rounding of the convs
        assert (reward[0] == 0) == zero, reward


def test_vae_features_train_online_on_the_real_frames_and_resume(world_model):
    venv = DummyVecEnv([lambda: GenieRetroEnv("SMB", max_episode_steps=6)] * 2)
    wrapped = WorldModelCuriosityVecEnv(venv, world_model, "vae", feature_dim=32, seed=0, update_every=4, epochs=2,
                                        minibatch_size=4)
    wrapped.reset()
    before = {k: v.clone() for k, v in wrapped.features.state_dict().items()}
    for step in range(7):  # an episode ends at step 6: the transition is scored against its last frame
        _, reward, done, infos = wrapped.step(np.array([0, 4]))
        assert reward.shape == (2,) and np.all(reward >= 0) and "extrinsic_reward" in infos[0]
        assert done.all() == (step == 5)
    assert wrapped.updates == 1 and set(wrapped.last_losses) == {"vae_reconstruction", "vae_kl"}
    assert any(not torch.equal(before[k], v) for k, v in wrapped.features.state_dict().items())
    copy = WorldModelCuriosityVecEnv(DummyVecEnv([lambda: GenieRetroEnv("SMB")]), world_model, "vae", feature_dim=32,
                                     seed=5)
    copy.load_state(wrapped.state())
    assert all(torch.equal(copy.features.state_dict()[k], v) for k, v in wrapped.features.state_dict().items())
    rf = WorldModelCuriosityVecEnv(DummyVecEnv([lambda: GenieRetroEnv("SMB")]), world_model, "rf", feature_dim=32)
    assert rf.optimizer is None and rf.state()["updates"] == 0  # random features never train
    with pytest.raises(ValueError, match="only the vae features train"):
        rf.features.loss(torch.zeros(1, 64, 64, 3, dtype=torch.uint8))
    for env in (wrapped, copy, rf):
        env.close()


def test_explore_trains_rf_on_top_of_the_world_model_in_the_real_game_and_refuses_it_in_a_dream(tmp_path, capsys):
    out = tmp_path / "rf"
    assert main(["explore", "--env", "SMB", "--reward", "rf", "--num-envs", "2", "--n-steps", "8",
                 "--episode-steps", "6", "--timesteps", "16", "--eval-episodes", "0", "--threads", "1",
                 "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["settings"]["reward"] == "rf" and result["settings"]["reward_version"] == 2
    assert result["training"]["mean_episode_reward"][-1] > 0  # the world model's errors, summed over episodes
    assert (out / "policy.safetensors").is_file()
    capsys.readouterr()
    assert main(["explore", "--env", "GenieDream-SMB-v0", "--reward", "vae", "--out", str(tmp_path / "d")]) == 1
    assert "--reward vae-burda in a dream" in capsys.readouterr().err
    assert main(["explore", "--env", "GenieDream-SMB-v0", "--reward", "game", "--out", str(tmp_path / "g")]) == 1
    assert "game's reward" in capsys.readouterr().err


def test_both_real_game_reward_wrappers_keep_their_context_in_one_base():
    from genie_gym.agents.curiosity_wm import WorldModelCuriosityVecEnv
    from genie_gym.agents.uncertainty_reward import TransitionRewardVecEnv, UncertaintyRewardVecEnv

    for wrapper in (WorldModelCuriosityVecEnv, UncertaintyRewardVecEnv):
        assert issubclass(wrapper, TransitionRewardVecEnv)
        assert "reset" not in vars(wrapper) and "step_async" not in vars(wrapper)
