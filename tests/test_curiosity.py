"""Burda-style RF / VAE curiosity (``--reward rf-burda | vae-burda``), the real-game uncertainty wrapper and ``genie
explore`` (real SMB frames and emulator, the shipped world model). The paper's RF / VAE on top of the world model:
tests/test_curiosity_wm.py; the one uncertainty definition: tests/test_uncertainty_definition.py."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from stable_baselines3.common.vec_env import DummyVecEnv, VecTransposeImage

from genie_gym.agents.curiosity import CuriosityModel, CuriosityRewardVecEnv, ForwardModel
from genie_gym.agents.policy_agent import PolicyAgent
from genie_gym.agents.uncertainty_reward import UncertaintyRewardVecEnv
from genie_gym.cli import main
from genie_gym.data.store import EpisodeStore
from genie_gym.envs.retro_env import GenieRetroEnv
from genie_gym.uncertainty import transition_uncertainty
from genie_gym.world_model import WorldModel


def transitions(store: Path) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """All (frame, action, next frame) of the store's SMB episodes, uint8 (N, 64, 64, 3) / int64 (N,)."""
    episodes = [EpisodeStore(store).load(ref) for ref in EpisodeStore(store).refs("SMB")]
    obs = np.concatenate([e.frames[:-1] for e in episodes])
    nxt = np.concatenate([e.frames[1:] for e in episodes])
    actions = np.concatenate([e.actions for e in episodes]).astype(np.int64)
    return torch.from_numpy(obs), torch.from_numpy(actions), torch.from_numpy(nxt)


@pytest.mark.parametrize("kind", ["rf", "vae"])
def test_curiosity_reward_falls_on_what_the_forward_model_has_learned(smb_store, kind):
    obs, actions, nxt = transitions(smb_store)
    seen, unseen = slice(0, 80), slice(120, 160)  # episodes 0-1 / episode 3
    torch.manual_seed(0)  # the VAE's sampling noise
    model = CuriosityModel(kind, feature_dim=64, seed=0)
    assert torch.equal(model.intrinsic_reward(obs[:8], actions[:8], nxt[:8]),
                       CuriosityModel(kind, feature_dim=64, seed=0).intrinsic_reward(obs[:8], actions[:8], nxt[:8]))
    features_before = model.features(obs[:8]).clone()
    before = model.intrinsic_reward(obs[seen], actions[seen], nxt[seen]).mean()
    optimizer = torch.optim.Adam([p for p in model.parameters() if p.requires_grad], lr=1e-3)
    first_parts = None
    for _ in range(150):
        loss, parts = model.loss(obs[seen], actions[seen], nxt[seen])
        first_parts = first_parts or parts
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    after = model.intrinsic_reward(obs[seen], actions[seen], nxt[seen]).mean()
    if kind == "rf":  # fixed features: the error falls against the start (measured after / before: 0.001)
        assert after < 0.5 * before, (float(before), float(after))
    else:  # the VAE's features move (and grow) while it learns, so compare with an untrained forward model on them
        untrained = copy.deepcopy(model)
        untrained.forward_model = ForwardModel(64)
        baseline = untrained.intrinsic_reward(obs[seen], actions[seen], nxt[seen]).mean()
        # measured after / baseline: 0.003-0.02 over the noise seeds 0-4
        assert after < 0.5 * baseline, (float(baseline), float(after))
    assert torch.all(model.intrinsic_reward(obs[unseen], actions[unseen], nxt[unseen]) >= 0)
    if kind == "rf":  # random features stay fixed; only the forward model learns
        assert torch.equal(model.features(obs[:8]), features_before)
    else:  # the VAE learns to reconstruct the frames, which moves its features
        assert parts["vae_reconstruction"] < 0.7 * first_parts["vae_reconstruction"], (first_parts, parts)
        assert not torch.allclose(model.features(obs[:8]), features_before)


def test_curiosity_wrapper_scores_each_real_transition_and_trains_online():
    venv = DummyVecEnv([lambda: GenieRetroEnv("SMB", max_episode_steps=5)])
    wrapped = CuriosityRewardVecEnv(venv, "rf", feature_dim=32, seed=1, update_every=4, epochs=1, minibatch_size=8)
    obs = wrapped.reset()
    rng = np.random.default_rng(0)
    for step in range(7):
        action = rng.integers(0, 5, size=1)
        expected_model = CuriosityModel("rf", 32, seed=1)
        expected_model.load_state_dict(wrapped.model.state_dict())
        next_obs, reward, done, infos = wrapped.step(action)
        # at the episode's end (step 5) the transition is scored against the last frame, not the next episode's first
        target = infos[0]["terminal_observation"] if done[0] else next_obs[0]
        expected = expected_model.intrinsic_reward(torch.from_numpy(obs), torch.from_numpy(action),
                                                   torch.from_numpy(target[None]))
        assert reward.shape == (1,) and reward.dtype == np.float32
        assert np.isclose(reward[0], float(expected[0]), rtol=1e-5), step
        assert "extrinsic_reward" in infos[0]
        assert done[0] == (step == 4)
        obs = next_obs
    assert wrapped.updates == 1 and set(wrapped.last_losses) == {"forward_loss"}  # trained once, after 4 steps
    with pytest.raises(ValueError, match="RGB uint8"):
        CuriosityRewardVecEnv(VecTransposeImage(venv), "rf")
    with pytest.raises(ValueError, match="curiosity kind"):
        CuriosityModel("icm")
    wrapped.close()


def test_uncertainty_reward_in_the_real_game_is_the_world_models_uncertainty():
    world_model = WorldModel.from_pretrained("smb")
    venv = DummyVecEnv([lambda: GenieRetroEnv("SMB", max_episode_steps=3)])
    wrapped = UncertaintyRewardVecEnv(venv, world_model)
    frames = [wrapped.reset()[0]]
    actions = [0, 4, 1, 0]
    for t, action in enumerate(actions):
        obs, reward, done, infos = wrapped.step(np.array([action]))
        # the context: the last two real frames and the action between them (right after a reset: the one frame)
        first = max(t - 1, 0) if t < 3 else 3
        expected, maps = transition_uncertainty(world_model, np.stack(frames[first : t + 1])[None],
                                                np.array([actions[first:t]]), np.array([action]))
        assert np.isclose(reward[0], expected[0], atol=1e-6), t
        assert infos[0]["uncertainty_map"].shape == maps[0].shape == (16, 16) and "extrinsic_reward" in infos[0]
        assert done[0] == (t == 2)  # the episode ends at step 3: the next step starts from the new first frame
        frames.append(obs[0])
    with pytest.raises(ValueError, match="RGB uint8"):
        UncertaintyRewardVecEnv(VecTransposeImage(venv), world_model)
    wrapped.close()


def explore(out: Path, *extra: str) -> int:
    return main(["explore", "--env", "GenieDream-SMB-v0", "--reward", "vae-burda", "--num-envs", "2", "--n-steps", "16",
                 "--episode-steps", "12", "--eval-episodes", "1", "--eval-steps", "12", "--threads", "1",
                 "--checkpoint-every", "1", "--out", str(out), *extra])


def test_explore_trains_resumes_and_saves_a_collectable_policy(tmp_path, capsys):
    out = tmp_path / "vae"
    assert explore(out, "--timesteps", "32") == 0
    result = json.loads((out / "result.json").read_text())
    assert result["settings"]["reward"] == "vae-burda" and result["training"]["timesteps"][-1] == 32
    assert set(result["curiosity_losses"]) == {"forward_loss", "vae_reconstruction", "vae_kl"}
    assert result["real_game"]["action_share"] and result["real_game"]["mean_furthest_camera_x"] is not None
    assert len(result["real_game"]["distinct_screens"]) == 1 and result["real_game"]["distinct_screens"][0] >= 1
    capsys.readouterr()
    assert explore(out, "--timesteps", "32") == 0  # finished: nothing redone
    assert "nothing to do" in capsys.readouterr().out
    assert explore(out, "--timesteps", "64") == 0  # trained further from its checkpoint
    assert "resuming" in capsys.readouterr().out
    assert json.loads((out / "result.json").read_text())["training"]["timesteps"][-1] == 64
    agent = PolicyAgent(out)  # what `genie collect --agent policy --policy OUT` plays
    agent.reset(0)
    assert 0 <= agent.act(np.zeros((64, 64, 3), np.uint8)) < 5
    # bad inputs: one clear error each, nothing of the run lost
    assert explore(out, "--timesteps", "32") == 1
    assert "already trained for 64 steps" in capsys.readouterr().err
    assert explore(out, "--timesteps", "64", "--seed", "1") == 1
    assert "other settings" in capsys.readouterr().err
    assert main(["explore", "--env", "NoSuchGame", "--out", str(tmp_path / "x")]) == 1
    assert "unknown env 'NoSuchGame'" in capsys.readouterr().err
    assert (out / "policy.safetensors").is_file() and not (tmp_path / "x").exists()


def test_explore_in_the_real_game_with_the_world_models_uncertainty(tmp_path):
    out = tmp_path / "real"
    assert main(["explore", "--env", "GenieRetro-SMB-v0", "--reward", "uncertainty", "--num-envs", "2", "--n-steps",
                 "8", "--episode-steps", "6", "--timesteps", "16", "--eval-episodes", "0", "--threads", "1",
                 "--out", str(out)]) == 0
    result = json.loads((out / "result.json").read_text())
    rewards = result["training"]["mean_episode_reward"]
    # episodes of 6 real steps, each step paid the world model's uncertainty in (0, 1)
    assert rewards and all(0.0 < r < 6.0 for r in rewards), rewards
    assert (out / "policy.safetensors").is_file()


def test_rollout_plan_trains_what_timesteps_says_or_rounds_up_to_whole_rollouts():
    from genie_gym.agents.explore_command import rollout_plan

    assert rollout_plan(256, 0, num_envs=16, n_steps=64) == (16, 256)  # issue 30: not one rollout of 1,024
    assert rollout_plan(250, 0, num_envs=16, n_steps=64) == (16, 256)  # at most num_envs - 1 over
    assert rollout_plan(30000, 0, num_envs=16, n_steps=64) == (64, 30720)  # 30 whole rollouts of 1,024
    assert rollout_plan(64, 32, num_envs=2, n_steps=16) == (16, 64)  # trained further from 32
    assert rollout_plan(8, 0, num_envs=16, n_steps=64) == (1, 16)
    assert rollout_plan(100, 120, num_envs=2, n_steps=16) == (16, 120)  # nothing left


def test_explore_runs_the_timesteps_it_prints(tiny_checkpoint, tmp_path, capsys):
    out = tmp_path / "small"
    assert main(["explore", "--env", str(tiny_checkpoint), "--reward", "rf-burda", "--num-envs", "2", "--n-steps", "64",
                 "--episode-steps", "4", "--timesteps", "12", "--maskgit-steps", "1", "--eval-episodes", "0",
                 "--threads", "1", "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "training to 12 steps: 1 rollout(s) of 2 envs x 6 steps" in printed
    assert "12/12 steps" in printed and "trained 12 steps" in printed and "/64" not in printed
    result = json.loads((out / "result.json").read_text())
    assert result["trained_timesteps"] == 12 and result["rollout_steps"] == 6
    assert result["training"]["timesteps"] == [12]


def test_train_epochs_passes_over_every_row_once_per_epoch_and_averages_the_losses():
    """The one online-training loop of the curiosity models (the forward model here, the VAE features of
    curiosity_wm): each epoch visits every buffered row once in a fresh random order, in minibatches."""
    import numpy as np
    import torch

    from genie_gym.agents.curiosity import train_epochs

    module = torch.nn.Linear(2, 1)
    optimizer = torch.optim.SGD(module.parameters(), lr=0.1)
    x, seen, parts = torch.randn(5, 2), [], []

    def loss(rows: np.ndarray):
        assert module.training
        seen.append(rows.tolist())
        value = module(x[rows]).pow(2).mean()
        parts.append(float(value))
        return value, {"mse": float(value)}

    before = module.weight.detach().clone()
    losses = train_epochs(module, optimizer, loss, rows=5, epochs=2, minibatch_size=2, rng=np.random.default_rng(0))
    assert [len(rows) for rows in seen] == [2, 2, 1, 2, 2, 1]
    assert sorted(sum(seen[:3], [])) == sorted(sum(seen[3:], [])) == list(range(5))
    assert sum(seen[:3], []) == np.random.default_rng(0).permutation(5).tolist()
    assert losses == {"mse": pytest.approx(sum(parts) / 6)}
    assert not module.training and not torch.equal(module.weight, before)
