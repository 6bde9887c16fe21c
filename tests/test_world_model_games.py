"""A world model of several games: ``genie train --games``, ``genie world-model pack --games`` and one dream id per
game, each resetting from its own game's real frames (real emulators, real training runs of tiny configs)."""

from __future__ import annotations

import json
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import genie_gym
from genie_gym.agents.random_agent import agent_factory
from genie_gym.cli import main
from genie_gym.collection import collect
from genie_gym.envs.registration import register_dreams, resolve_env_id
from genie_gym.games import UnknownGameError
from genie_gym.world_model import WorldModel, game_checkpoint, world_model_games

torch.set_num_threads(1)
GAMES = ("SMB", "Kangaroo")  # an NES and an Atari 2600 game, both provisioned by `genie roms install`
FAST = ["--batch-size", "2", "--window", "4", "--log-every", "1", "--threads", "1", "--no-progress",
        "--image-every", "0", "--steps", "2"]
TINY = {
    "tokenizer": {"patch_size": 8, "d_model": 32, "num_heads": 2, "encoder_blocks": 1, "decoder_blocks": 1,
                  "num_codes": 64},
    "dynamics": {"d_model": 32, "num_heads": 2, "num_blocks": 1, "maskgit_steps": 2},
}


def genie(*args: object) -> int:
    return main([str(arg) for arg in args])


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-game store (SMB and Kangaroo, 2 sticky-random episodes each) and 2-step tiny tokenizer and dynamics runs
    trained on both (``--games SMB,Kangaroo``)."""
    root = tmp_path_factory.mktemp("two_games")
    collect(list(GAMES), agent_factory("sticky-random"), episodes=2, max_steps=24, workers=0, out_dir=root / "store",
            seed=5, progress=False)
    for kind, values in TINY.items():
        (root / f"tiny_{kind}.json").write_text(json.dumps(values))
    games = ",".join(GAMES)
    assert genie("train", "tokenizer", "--config", root / "tiny_tokenizer.json", "--data", root / "store", "--games",
                 games, "--out", root / "tok", *FAST) == 0
    assert genie("train", "dynamics", "--config", root / "tiny_dynamics.json", "--data", root / "store", "--games",
                 games, "--tokenizer", root / "tok", "--out", root / "dyn", *FAST) == 0
    (root / "settings.json").write_text(json.dumps({"context_frames": 1, "maskgit_steps": 1}))
    return root


@pytest.fixture(scope="module")
def packed(runs: Path) -> Path:
    """The two runs packed without --games: the world model takes the games the dynamics run trained on."""
    out = runs / "world_model"
    assert genie("world-model", "pack", "--tokenizer", runs / "tok", "--dynamics", runs / "dyn", "--out", out,
                 "--settings", runs / "settings.json") == 0
    return out


@pytest.fixture
def restore_dream_ids():
    """Put back the dream ids a test replaces (``GenieDream-SMB-v0`` is the shipped dream's)."""
    saved = {env_id: spec for env_id, spec in gym.registry.items() if env_id.startswith("GenieDream-")}
    yield
    for env_id in [env_id for env_id in gym.registry if env_id.startswith("GenieDream-")]:
        del gym.registry[env_id]
    gym.registry.update(saved)


def real_reset_frame(game: str, seed: int) -> np.ndarray:
    env = gym.make(f"GenieRetro-{game}-v0")
    try:
        return env.reset(seed=seed)[0]
    finally:
        env.close()


def test_training_records_both_games_and_pack_keeps_them_with_one_view_per_game(runs: Path, packed: Path) -> None:
    trained = json.loads((runs / "dyn" / "config.json").read_text())["model"]["data"]["games"]
    assert sorted(trained) == sorted(GAMES)
    settings = json.loads((packed / "dream.json").read_text())
    assert sorted(settings["games"]) == sorted(GAMES) and settings["game"] in GAMES
    assert settings["context_frames"] == 1  # --settings still applies
    for game in GAMES:
        view = json.loads((packed / "games" / game / "dream.json").read_text())
        assert view == {"world_model": "../..", "game": game}
        assert game_checkpoint(packed, game) == packed / "games" / game
        model = WorldModel.from_pretrained(packed / "games" / game)
        assert model.game == game and sorted(model.games) == sorted(GAMES)
    assert sorted(world_model_games(packed)) == sorted(GAMES)


def test_a_two_game_world_model_registers_two_dreams_each_resetting_from_its_game(packed: Path,
                                                                               restore_dream_ids) -> None:
    ids = register_dreams(packed)
    assert sorted(ids) == sorted(f"GenieDream-{game}-v0" for game in GAMES)
    assert ids[0] == f"GenieDream-{json.loads((packed / 'dream.json').read_text())['game']}-v0"  # default first
    first = {}
    for game in GAMES:
        env = gym.make(f"GenieDream-{game}-v0")
        try:
            obs, _ = env.reset(seed=3)
            # context_frames 1: the dream's first observation is the real game's reset frame itself
            np.testing.assert_array_equal(obs, real_reset_frame(game, 3))
            assert env.unwrapped.game == game
            assert env.unwrapped.dreams.real_env.game.name == game  # that game's emulator and button map
            frame, reward, *_ = env.step(4)
            assert frame.shape == (64, 64, 3) and frame.dtype == np.uint8 and 0 <= reward <= 1
        finally:
            env.close()
        first[game] = obs
    assert not np.array_equal(first["SMB"], first["Kangaroo"])

    vector = gym.make_vec("GenieDream-Kangaroo-v0", num_envs=2)  # the batched dream resets from the same game
    try:
        frames, _ = vector.reset(seed=3)
        np.testing.assert_array_equal(frames[0], real_reset_frame("Kangaroo", 3))
    finally:
        vector.close()


def test_directories_and_ids_pick_the_game(packed: Path, restore_dream_ids) -> None:
    default = json.loads((packed / "dream.json").read_text())["game"]
    assert resolve_env_id(str(packed)) == f"GenieDream-{default}-v0"  # genie play DIR: every id, the default plays
    assert {f"GenieDream-{game}-v0" for game in GAMES} <= set(gym.registry)
    assert resolve_env_id(str(packed / "games" / "Kangaroo")) == "GenieDream-Kangaroo-v0"
    assert gym.spec("GenieDream-Kangaroo-v0").kwargs["checkpoint"] == str(packed / "games" / "Kangaroo")
    # register_dream with a game's id of a multi-game model picks that game; any other id, the default game
    genie_gym.register_dream("GenieDream-SMB-v0", str(packed))
    assert gym.spec("GenieDream-SMB-v0").kwargs["checkpoint"] == str(packed / "games" / "SMB")
    genie_gym.register_dream("GenieDream-Both-v0", str(packed))
    assert gym.spec("GenieDream-Both-v0").kwargs["checkpoint"] == str(packed)
    model = WorldModel.from_pretrained(packed, game="kangaroo")  # any spelling get_game knows
    assert model.game == "Kangaroo" and model.for_game("SMB").game == "SMB"
    assert model.for_game("SMB").dynamics is model.dynamics  # weights shared, not copied


def test_naming_a_game_the_data_or_model_lacks_is_one_clear_error(runs: Path, packed: Path, capsys) -> None:
    assert genie("train", "tokenizer", "--config", runs / "tiny_tokenizer.json", "--data", runs / "store", "--games",
                 "SMB", "Hero", "--out", runs / "never", *FAST) != 0
    error = capsys.readouterr().err
    assert "--games Hero" in error and "Kangaroo, SMB" in error, error
    assert not (runs / "never").exists()
    assert genie("world-model", "pack", "--tokenizer", runs / "tok", "--dynamics", runs / "dyn", "--out",
                 runs / "never", "--games", "SMB,Hero") != 0
    error = capsys.readouterr().err
    assert "--games Hero" in error and "training data" in error and "SMB, Kangaroo" in error, error
    with pytest.raises(UnknownGameError, match="SMB, Kangaroo"):
        WorldModel.from_pretrained(packed, game="Hero")


def test_group_selection_and_repacking_as_one_game(runs: Path, tmp_path: Path) -> None:
    out = tmp_path / "wm"
    assert genie("world-model", "pack", "--tokenizer", runs / "tok", "--dynamics", runs / "dyn", "--out", out,
                 "--games", "platformers", "--game", "smb") == 0  # both games are platformers
    settings = json.loads((out / "dream.json").read_text())
    assert settings["game"] == "SMB" and sorted(settings["games"]) == sorted(GAMES)
    assert genie("world-model", "pack", "--tokenizer", runs / "tok", "--dynamics", runs / "dyn", "--out", out,
                 "--game", "Kangaroo") == 0  # one game: the layout of a one-game world model, old views removed
    settings = json.loads((out / "dream.json").read_text())
    assert settings["game"] == "Kangaroo" and "games" not in settings and not (out / "games").exists()
    assert world_model_games(out) == ["Kangaroo"] and game_checkpoint(out, "Kangaroo") == out


def test_explore_trains_in_one_games_dream_and_measures_that_games_progress(packed: Path, tmp_path: Path) -> None:
    """``genie explore --env DIR/games/Kangaroo``: the explorer trains in the Kangaroo dream of a 2-game world model,
    is evaluated in the real Kangaroo (no camera in its RAM: progress is distinct screens), not in SMB."""
    out = tmp_path / "explore"
    assert genie("explore", "--env", packed / "games" / "Kangaroo", "--num-envs", "2", "--n-steps", "8",
                 "--episode-steps", "8", "--eval-episodes", "1", "--eval-steps", "8", "--threads", "1",
                 "--timesteps", "16", "--out", out) == 0
    result = json.loads((out / "result.json").read_text())
    assert result["training"]["timesteps"][-1] == 16
    real = result["real_game"]
    # SMB would report its camera; Kangaroo's integration names no position, so its progress is distinct screens
    assert real["mean_furthest_camera_x"] is None and real["mean_distinct_screens"] >= 1
    assert sum(real["action_share"].values()) == pytest.approx(1.0)
