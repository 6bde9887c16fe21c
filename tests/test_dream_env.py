"""The dream environment, its vectorized form, play and evaluation, on a tiny world-model checkpoint on disk.

The checkpoint's weights are untrained (the env contract does not depend on quality; the models' own tests train
them); everything else is real: safetensors files, the real SMB emulator for contexts, pygame with the dummy driver.
"""

from __future__ import annotations

import json
import os
import sys

import gymnasium as gym
import numpy as np
import pytest
import torch

from genie_gym.envs.dream_batch import DreamSettings
from genie_gym.envs.dream_env import GenieDreamEnv
from genie_gym.envs.dream_vec_env import GenieDreamVecEnv
from genie_gym.models.checkpoint_io import CheckpointError
from genie_gym.models.configs import DynamicsConfig, TokenizerConfig
from genie_gym.models.dynamics import Dynamics
from genie_gym.models.tokenizer import VideoTokenizer
from genie_gym.world_model import WorldModel

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
TINY_DREAM_ID = "GenieDream-TinySMB-v0"  # registered by the tiny_checkpoint fixture (conftest.py)


@pytest.fixture
def dream(tiny_checkpoint):
    env = gym.make(TINY_DREAM_ID, max_episode_steps=12)
    yield env
    env.close()


def test_both_env_checkers_pass(tiny_checkpoint):
    from gymnasium.utils.env_checker import check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    env = gym.make(TINY_DREAM_ID, max_episode_steps=10)
    check_env(env.unwrapped)
    sb3_check_env(env.unwrapped)
    env.close()


def test_step_contract_reward_and_truncation(dream):
    obs, info = dream.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert info["context_frames"] == 2
    for step in range(12):
        obs, reward, terminated, truncated, info = dream.step(step % 5)
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
        assert 0.0 <= reward <= 1.0
        assert info["uncertainty_map"].shape == (8, 8)
        # the reward is the mean of the top 25% of the per-token uncertainty map
        top = np.sort(info["uncertainty_map"].ravel())[-16:]
        assert reward == pytest.approx(float(top.mean()), abs=1e-5)
        assert not terminated
        assert truncated == (step == 11)


def _rollout(env, seed: int, actions: list[int]) -> tuple[np.ndarray, list[float]]:
    frames, rewards = [env.reset(seed=seed)[0]], []
    for action in actions:
        obs, reward, *_ = env.step(action)
        frames.append(obs)
        rewards.append(reward)
    return np.stack(frames), rewards


def test_same_seed_same_dream_other_seed_other_dream(dream):
    actions = [0, 4, 4, 1, 0, 3]
    frames_a, rewards_a = _rollout(dream, 5, actions)
    frames_b, rewards_b = _rollout(dream, 5, actions)
    frames_c, _ = _rollout(dream, 6, actions)
    assert np.array_equal(frames_a, frames_b) and rewards_a == rewards_b
    assert not np.array_equal(frames_a[1:], frames_c[1:])


def test_action_guided_dream_is_seeded_and_differs_from_the_plain_one(dream, tiny_checkpoint):
    guided = GenieDreamEnv(world_model=dream.unwrapped.world_model, action_guidance=3.0)
    actions = [0, 4, 4, 1]
    frames_a, _ = _rollout(guided, 5, actions)
    frames_b, _ = _rollout(guided, 5, actions)
    plain, _ = _rollout(dream, 5, actions)
    assert np.array_equal(frames_a, frames_b)
    assert not np.array_equal(frames_a[1:], plain[1:])
    with pytest.raises(ValueError, match="action_guidance must be >= 0"):
        GenieDreamEnv(world_model=dream.unwrapped.world_model, action_guidance=-1.0)


def test_hold_settings_are_arguments_like_maskgit_steps_and_leave_the_shared_model_as_it_is(tiny_checkpoint):
    """``hold_pixels`` / ``hold_bias`` (dream.json keys) as env arguments: a bias this large repeats every id and
    held pixels then repeat the frame exactly; the world model's own settings (it may be shared) do not change."""
    world_model = WorldModel.from_pretrained(tiny_checkpoint)
    held = gym.make(TINY_DREAM_ID, hold_pixels=True, hold_bias=1e4, maskgit_steps=1)
    assert held.unwrapped.hold_pixels is True and held.unwrapped.hold_bias == 1e4
    first = held.reset(seed=0)[0]
    assert all(np.array_equal(held.step(action)[0], first) for action in (0, 4, 1))
    held.close()
    vec = GenieDreamVecEnv(2, world_model=world_model, max_episode_steps=5, hold_pixels=True, hold_bias=1e4)
    first = vec.reset()
    assert np.array_equal(vec.step(np.array([0, 4]))[0], first)
    plain = GenieDreamEnv(world_model=world_model)
    assert plain.settings == DreamSettings.resolve(world_model.settings) and not plain.hold_pixels
    assert not world_model.settings["hold_pixels"] and world_model.settings["hold_bias"] == 0.0
    first = plain.reset(seed=0)[0]
    assert not np.array_equal(plain.step(0)[0], first)
    plain.hold_bias = 2.0  # the settings stay attributes, checked again when set
    assert plain.settings.hold_bias == 2.0 and vec.get_attr("hold_bias") == [1e4, 1e4]
    with pytest.raises(ValueError, match="hold_bias must be >= 0"):
        plain.hold_bias = -1.0
    vec.close()
    calibrated = GenieDreamEnv(world_model=world_model, change_temperature=1.0, maskgit_steps=2)
    assert calibrated.change_temperature == 1.0 and calibrated.reset(seed=0)[0].shape == (64, 64, 3)
    assert calibrated.step(1)[0].shape == (64, 64, 3)  # the keep-or-change sampler runs in the env's dream
    calibrated.close()
    for bad, error in (({"hold_bias": -1.0}, "hold_bias must be >= 0"), ({"maskgit_steps": 0}, "maskgit_steps must"),
                       ({"change_temperature": -0.5}, "change_temperature must be >= 0"),
                       ({"hold_pixel": True}, r"unknown dream setting\(s\) \['hold_pixel'\]")):
        with pytest.raises((ValueError, TypeError), match=error):
            GenieDreamEnv(world_model=world_model, **bad)


def test_context_from_frames_and_from_a_stored_episode(dream, smb_store):
    from genie_gym.data.store import EpisodeStore

    store = EpisodeStore(smb_store)
    episode = store.load(store.refs()[0])
    obs, info = dream.reset(seed=0, options={"frames": episode.frames[:3], "actions": episode.actions[:2]})
    assert np.array_equal(obs, episode.frames[2]) and info["context_frames"] == 3
    obs, info = dream.reset(seed=0, options={"episode": str(store.refs()[0].path)})
    assert np.array_equal(obs, episode.frames[1]) and info["context_frames"] == 2


def test_bad_inputs_get_clear_errors(dream, tiny_checkpoint, tmp_path):
    dream.reset(seed=0)
    for bad in (5, -1, 2.5, "JUMP"):
        with pytest.raises(ValueError, match="invalid action"):
            dream.step(bad)
    with pytest.raises(ValueError, match=r"\(\.\.\., 64, 64, 3\)"):
        dream.reset(options={"frames": np.zeros((2, 32, 32, 3), np.uint8), "actions": np.zeros(1, np.int64)})
    with pytest.raises(ValueError, match=r"must be integers of shape \(2,\)"):
        dream.reset(options={"frames": np.zeros((3, 64, 64, 3), np.uint8), "actions": np.zeros(1, np.int64)})
    with pytest.raises(CheckpointError, match="not found"):
        GenieDreamEnv(checkpoint=str(tmp_path / "nowhere"))
    with pytest.raises(CheckpointError, match="expected a dynamics checkpoint"):
        wrong = tmp_path / "wrong"
        wrong.mkdir()
        (wrong / "dynamics").symlink_to(tiny_checkpoint / "tokenizer")
        (wrong / "tokenizer").symlink_to(tiny_checkpoint / "tokenizer")
        WorldModel.from_pretrained(wrong)


def test_long_dream_keeps_a_bounded_context(tiny_checkpoint):
    env = gym.make(TINY_DREAM_ID, max_episode_steps=100)
    env.reset(seed=0)
    for step in range(30):
        env.step(step % 5)
    state = env.unwrapped.dreams.state
    assert all(stream.num_cached_frames <= 6 for stream in state.streams)  # context_window of the checkpoint
    assert all(decoder.num_cached_frames <= 4 for decoder in state.decoders)  # decode_window
    env.close()


def test_dreams_stepped_in_groups_match_one_pass(tiny_checkpoint):
    """A CPU steps a large batch of dreams a group per pass (``dreams_per_pass``): same frames as one pass."""
    rng = np.random.default_rng(3)
    frames = rng.integers(0, 256, (5, 2, 64, 64, 3), dtype=np.uint8)
    context_actions, actions = rng.integers(0, 5, (5, 1)), rng.integers(0, 5, (3, 5))
    outputs = {}
    for per_pass in (2, 64):
        world_model = WorldModel.from_pretrained(tiny_checkpoint)
        world_model.settings["dreams_per_pass"] = per_pass
        state = world_model.start(frames, context_actions)
        assert state.group_sizes == ([2, 2, 1] if per_pass == 2 else [5])
        sampling = world_model.dream_settings(maskgit_steps=2, temperature=0.0)
        outputs[per_pass] = [world_model.step(state, step_actions, sampling)
                             for step_actions in actions]
    for (grouped, grouped_entropy), (whole, whole_entropy) in zip(outputs[2], outputs[64], strict=True):
        assert grouped.shape == (5, 64, 64, 3) and grouped_entropy.shape == whole_entropy.shape
        assert np.abs(grouped.astype(int) - whole.astype(int)).max() <= 1
        assert torch.allclose(grouped_entropy, whole_entropy, atol=1e-4)
    world_model.settings["dreams_per_pass"] = 0
    with pytest.raises(ValueError, match="dreams_per_pass must be >= 1"):
        world_model.start(frames, context_actions)


def test_vec_env_steps_all_dreams_together_and_resets_in_lockstep(tiny_checkpoint):
    world_model = WorldModel.from_pretrained(tiny_checkpoint)
    vec = GenieDreamVecEnv(3, world_model=world_model, max_episode_steps=2, seed=1)
    obs = vec.reset()
    assert obs.shape == (3, 64, 64, 3) and obs.dtype == np.uint8
    obs, rewards, dones, infos = vec.step(np.array([0, 1, 4]))
    assert rewards.shape == (3,) and not dones.any()
    obs, rewards, dones, infos = vec.step(np.array([0, 1, 4]))
    assert dones.all() and all(info["TimeLimit.truncated"] for info in infos)
    assert infos[0]["terminal_observation"].shape == (64, 64, 3)
    vec.close()


def test_ppo_learns_unchanged_on_the_dream_and_the_vec_dream(tiny_checkpoint):
    from stable_baselines3 import PPO

    env = gym.make(TINY_DREAM_ID, max_episode_steps=8)
    PPO("CnnPolicy", env, n_steps=8, batch_size=8, n_epochs=1, seed=0).learn(total_timesteps=8)
    env.close()
    vec = GenieDreamVecEnv(2, world_model=WorldModel.from_pretrained(tiny_checkpoint), max_episode_steps=4)
    PPO("CnnPolicy", vec, n_steps=4, batch_size=8, n_epochs=1, seed=0).learn(total_timesteps=8)
    vec.close()


def test_play_headless_side_by_side_records_gif_and_episode(tiny_checkpoint, tmp_path):
    import imageio.v3 as iio

    from genie_gym.commands.play_command import PlaySettings
    from genie_gym.data.store import EpisodeStore
    from genie_gym.play import run_play

    script = tmp_path / "actions.txt"
    script.write_text("RIGHT\nRIGHT\nJUMP  # a comment\n0\n4\n1\n")
    gif = tmp_path / "play.gif"
    summary = run_play(PlaySettings(env_id=TINY_DREAM_ID, side_by_side=True, actions_file=str(script), record=str(gif),
                                    record_store=str(tmp_path / "store"), scale=2))
    assert summary["steps"] == 6
    images = iio.imread(gif)
    assert images.shape[0] == 7  # the first frame and one per step
    assert images.shape[2] > 2 * 64 * 2  # two panels side by side
    episode = EpisodeStore(tmp_path / "store").load(("SMB", 0))
    assert episode.frames.shape == (8, 64, 64, 3)  # 2 context frames (the dream's) + one per step
    assert episode.actions.tolist() == [0, 0, 0, 4, 0, 4, 1]  # RIGHT built the context, then the script


def test_play_records_an_mp4(tmp_path):
    import imageio.v3 as iio

    from genie_gym.commands.play_command import PlaySettings
    from genie_gym.play import HEADER_HEIGHT, run_play

    script = tmp_path / "actions.txt"
    script.write_text("RIGHT\nRIGHT\nJUMP\n")
    video_path = tmp_path / "play.mp4"
    summary = run_play(PlaySettings(env_id="GenieRetro-SMB-v0", actions_file=str(script), record=str(video_path),
                                    scale=3))
    assert summary["record"] == str(video_path)
    video = iio.imread(video_path)
    assert video.shape == (4, HEADER_HEIGHT + 3 * 64, 3 * 64, 3)  # the first frame and one per step
    assert video[:, HEADER_HEIGHT:].mean() > 40  # the game's sky, not a black video


def test_genie_play_takes_a_world_model_directory_and_names_what_it_accepts(tiny_checkpoint, tmp_path, capsys):
    from genie_gym.cli import main
    from genie_gym.envs.registration import resolve_env_id

    env_id = resolve_env_id(str(tiny_checkpoint))
    assert env_id.startswith("GenieDream-") and env_id.endswith("-v0")
    assert gym.spec(env_id).kwargs["checkpoint"] == str(tiny_checkpoint)
    assert resolve_env_id("GenieRetro-SMB-v0") == "GenieRetro-SMB-v0"
    script = tmp_path / "actions.txt"
    script.write_text("RIGHT\nJUMP\n")
    gif = tmp_path / "play.gif"
    assert main(["play", str(tiny_checkpoint), "--actions", str(script), "--record", str(gif), "--scale", "1"]) == 0
    assert gif.stat().st_size > 0 and "played 2 steps" in capsys.readouterr().out

    assert main(["play", "GenieDream-Nothing-v0", "--actions", str(script)]) == 1
    assert "unknown env 'GenieDream-Nothing-v0'" in capsys.readouterr().err
    assert main(["play", str(tmp_path), "--actions", str(script)]) == 1  # a directory, but no world model
    assert "genie world-model pack" in capsys.readouterr().err


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="only Linux windows need DISPLAY / WAYLAND_DISPLAY")
def test_genie_play_without_a_display_stops_with_a_clear_message(tiny_checkpoint, tmp_path, monkeypatch, capsys):
    from genie_gym.cli import main

    script = tmp_path / "actions.txt"
    script.write_text("RIGHT\n")
    for variable in ("DISPLAY", "WAYLAND_DISPLAY", "SDL_VIDEODRIVER"):
        monkeypatch.delenv(variable, raising=False)
    assert main(["play", TINY_DREAM_ID]) == 1
    err = capsys.readouterr().err
    assert "genie play needs a display" in err and "SDL_VIDEODRIVER=dummy" in err and len(err.splitlines()) == 1
    assert main(["play", "GenieRetro-SMB-v0", "--actions", str(script)]) == 1  # headless needs the dummy driver
    assert "needs a display" in capsys.readouterr().err
    monkeypatch.setenv("SDL_VIDEODRIVER", "dummy")  # what `make demo` and the headless tests set
    assert main(["play", TINY_DREAM_ID, "--actions", str(script), "--scale", "1"]) == 0
    assert "played 1 steps" in capsys.readouterr().out


def test_play_dream_from_starts_the_dream_from_the_real_game_later(tiny_checkpoint):
    from genie_gym.play import PlaySession

    session = PlaySession(TINY_DREAM_ID, side_by_side=True, dream_from=3)
    try:
        session.reset()
        for _ in range(2):
            session.step(0)
            assert session.waiting_for_dream
            darkened = (session.real_frame.astype(np.uint16) * 3 // 8).astype(np.uint8)
            assert np.array_equal(session.dream_frame, darkened)  # only the real game runs
        session.step(0)  # step 3: the dream restarts from the real game's latest frames
        assert not session.waiting_for_dream
        assert np.array_equal(session.dream_frame, session.real_frame) and session.dream.unwrapped.dreams.steps == 0
        session.step(0)
        assert session.dream.unwrapped.dreams.steps == 1  # now the dream answers the keys
        session.reset()
        assert session.waiting_for_dream  # every episode starts with the real game again
    finally:
        session.close()
    with pytest.raises(ValueError, match="dream_from must be >= 0"):
        PlaySession(TINY_DREAM_ID, dream_from=-1)


def test_play_rejects_a_bad_action_script(tmp_path):
    from genie_gym.play import read_action_script

    script = tmp_path / "bad.txt"
    script.write_text("RIGHT\nFLY\n")
    with pytest.raises(ValueError, match="bad.txt:2"):
        read_action_script(script)


def test_eval_protocol_on_a_small_real_set(tiny_checkpoint, smb_store, tmp_path):
    from genie_gym.cli import main

    out = tmp_path / "eval.json"
    grid = tmp_path / "grid.png"
    status = main(["eval", "--checkpoint", str(tiny_checkpoint), "--data", str(smb_store), "--split", "all",
                   "--maskgit-steps", "2", "--max-sequences", "3", "--json", str(out), "--grid", str(grid)])
    assert status == 0
    result = json.loads(out.read_text())
    assert set(result) >= {"psnr", "ssim", "delta_psnr", "tokenizer_psnr", "fid"}
    assert result["fid"] is None and result["num_sequences"] == 3
    assert np.isfinite([result["psnr"], result["ssim"], result["delta_psnr"], result["tokenizer_psnr"]]).all()
    assert len(result["psnr_per_step"]) == 10
    # per-sequence PSNR (for paired comparisons): one per sequence, and the frame mean is their mean
    assert len(result["psnr_per_sequence"]) == 3
    assert np.mean(result["psnr_per_sequence"]) == pytest.approx(result["psnr"], abs=1e-4)
    assert result["delta_psnr_se"] > 0  # three paired differences are not all equal
    assert grid.exists() and grid.stat().st_size > 1000
    # an untrained model does not use its actions
    assert abs(result["action_gain"]) < 0.05 and np.isfinite(result["action_gain_changed"])
    guided, guided_grid = tmp_path / "guided.json", tmp_path / "guided.png"
    assert main(["eval", "--checkpoint", str(tiny_checkpoint), "--data", str(smb_store), "--split", "all",
                 "--maskgit-steps", "2", "--max-sequences", "2", "--action-guidance", "1.5",
                 "--json", str(guided), "--grid", str(guided_grid), "--grid-overlay"]) == 0
    guided_result = json.loads(guided.read_text())
    assert guided_result["settings"]["action_guidance"] == 1.5 and np.isfinite(guided_result["psnr"])
    assert guided_grid.stat().st_size > 1000  # the overlay's pixels: tests/test_evaluation.py


def test_eval_computes_fid_with_the_real_inception_weights(tiny_checkpoint, smb_store, fid_weights, tmp_path,
                                                         capsys):
    from genie_gym.cli import main

    out = tmp_path / "eval.json"
    assert main(["eval", "--checkpoint", str(tiny_checkpoint), "--data", str(smb_store), "--split", "all",
                 "--maskgit-steps", "1", "--max-sequences", "2", "--fid-weights", str(fid_weights),
                 "--json", str(out)]) == 0
    result = json.loads(out.read_text())
    assert np.isfinite([result["fid"], result["tokenizer_fid"]]).all()
    assert result["fid"] > 0 and result["tokenizer_fid"] > 0
    printed = capsys.readouterr().out
    assert "not computed" not in printed and "tokenizer FID" in printed


def test_world_model_pack_from_checkpoints_and_codebook_mismatch(tiny_checkpoint, tmp_path):
    import shutil

    from genie_gym.cli import main
    from genie_gym.models.checkpoint_io import save_pretrained
    from genie_gym.models.configs import TRAINING_OPTIONS_FILE, get_training_options

    out = tmp_path / "packed"
    dynamics = shutil.copytree(tiny_checkpoint / "dynamics", tmp_path / "dynamics")
    (dynamics / TRAINING_OPTIONS_FILE).write_text(json.dumps({"changed_token_weight": 3}))
    tokenizer = shutil.copytree(tiny_checkpoint / "tokenizer", tmp_path / "tokenizer")
    (tokenizer / TRAINING_OPTIONS_FILE).write_text(json.dumps({"dead_code_after": 7}))
    assert main(["world-model", "pack", "--tokenizer", str(tokenizer), "--dynamics",
                 str(dynamics), "--game", "SMB", "--out", str(out), "--fp16"]) == 0
    # the training options travel with the models (for a later --init)
    assert get_training_options("dynamics", out / "dynamics" / "config.json").changed_token_weight == 3
    assert get_training_options("tokenizer", out / "tokenizer" / "config.json").dead_code_after == 7
    packed = WorldModel.from_pretrained(out)
    assert packed.settings["game"] == "SMB"
    assert next(packed.dynamics.parameters()).dtype == torch.float32  # fp16 on disk, float32 in memory

    torch.manual_seed(1)
    other = VideoTokenizer(TokenizerConfig(patch_size=8, d_model=32, num_heads=2, encoder_blocks=1,
                                           decoder_blocks=1, num_codes=32, latent_dim=8))
    save_pretrained(other, tmp_path / "other_tokenizer")
    assert main(["world-model", "pack", "--tokenizer", str(tmp_path / "other_tokenizer"), "--dynamics",
                 str(tiny_checkpoint / "dynamics"), "--out", str(tmp_path / "bad")]) == 1


def test_autoregressive_prediction_uses_the_cache_and_matches_a_full_recompute(tiny_checkpoint):
    """``WorldModel.predict(mode="autoregressive")`` (the eval path) streams with the cache; same tokens and frames as
    running the dynamics over the whole sequence for every frame."""
    world_model = WorldModel.from_pretrained(tiny_checkpoint)
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, (2, 3, 64, 64, 3), dtype=np.uint8)
    actions = rng.integers(0, 5, (2, 3 + 4 - 1))
    predicted, entropy = world_model.predict(frames, actions, 4, mode="autoregressive",
                                             generator=torch.Generator().manual_seed(5))
    tokens = world_model.encode(frames)
    reference = world_model.dynamics.generate(tokens, torch.from_numpy(actions), 4, mode="autoregressive",
                                              sampling=world_model.dream_settings(),
                                              generator=torch.Generator().manual_seed(5), use_cache=False)
    expected = world_model.decode(torch.cat([tokens, reference.tokens], dim=1))[:, 3:]
    assert predicted.shape == (2, 4, 64, 64, 3) and np.array_equal(predicted, expected)
    assert torch.allclose(entropy, reference.entropy, atol=1e-6)


def test_play_session_passes_maskgit_steps_and_guidance_to_every_dream(tiny_checkpoint):
    from genie_gym.play import PlaySession

    session = PlaySession(TINY_DREAM_ID, side_by_side=True, sampling={"maskgit_steps": 1, "action_guidance": 1.5})
    try:
        session.reset()
        assert session.dream.unwrapped.maskgit_steps == 1 and session.dream.unwrapped.action_guidance == 1.5
        session.toggle_dream()
        session.toggle_dream()
        assert session.dream.unwrapped.maskgit_steps == 1 and session.dream.unwrapped.action_guidance == 1.5
    finally:
        session.close()
    default = PlaySession(TINY_DREAM_ID)
    assert default.dream.unwrapped.maskgit_steps == 3  # the checkpoint's dream.json
    assert default.dream.unwrapped.action_guidance == 0.0
    default.close()
    with pytest.raises(ValueError, match="action_guidance must be >= 0"):
        PlaySession(TINY_DREAM_ID, sampling={"action_guidance": -1.0})


def test_genie_redux_world_model_is_evaluated_with_the_actions_its_lam_infers(tiny_checkpoint, smb_store, tmp_path):
    from genie_gym.cli import main
    from genie_gym.evaluation import EvalSettings, evaluate, load_evaluation_data
    from genie_gym.models.checkpoint_io import load_pretrained, save_pretrained
    from genie_gym.models.configs import LAMConfig
    from genie_gym.models.lam import LatentActionModel

    tokenizer = load_pretrained(tiny_checkpoint / "tokenizer", expected_kind="tokenizer")
    torch.manual_seed(0)
    dynamics = Dynamics(DynamicsConfig(num_codes=32, latent_dim=8, grid_size=8, d_model=32, num_heads=2, num_blocks=1,
                                       action_source="latent", num_actions=7, token_input_skip=False),
                        codebook=tokenizer.codebook_vectors().detach())
    lam_config = dict(patch_size=8, d_model=32, num_heads=4, encoder_blocks=1, decoder_blocks=1)
    save_pretrained(dynamics, tmp_path / "dyn")
    save_pretrained(LatentActionModel(LAMConfig(**lam_config)), tmp_path / "lam")
    out = tmp_path / "genie_redux"
    assert main(["world-model", "pack", "--tokenizer", str(tiny_checkpoint / "tokenizer"), "--dynamics",
                 str(tmp_path / "dyn"), "--lam", str(tmp_path / "lam"), "--out", str(out)]) == 0
    world_model = WorldModel.from_pretrained(out)
    assert world_model.action_source == "latent" and world_model.num_actions == 7
    frames, actions = load_evaluation_data(smb_store, EvalSettings(max_sequences=2), split="all")
    inferred = world_model.infer_actions(frames[:, :4])
    assert inferred.shape == (2, 3) and inferred.min() >= 0 and inferred.max() < 7
    settings = EvalSettings(maskgit_steps=2, max_sequences=2)
    result = evaluate(world_model, frames, actions, settings)
    assert result.settings["actions"].startswith("latent") and np.isfinite(result.psnr)
    with pytest.raises(ValueError, match="GenieRedux-G"):
        GenieDreamEnv(world_model=world_model)
    without_lam = WorldModel(world_model.tokenizer, world_model.dynamics, world_model.settings)
    with pytest.raises(ValueError, match="pack the LAM"):
        evaluate(without_lam, frames, actions, settings)
    with pytest.raises(CheckpointError, match="5 latent actions but the dynamics model takes 7"):
        WorldModel(world_model.tokenizer, world_model.dynamics, lam=LatentActionModel(
            LAMConfig(**lam_config, num_codes=5)))
