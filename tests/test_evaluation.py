"""The evaluation protocol's trivial baselines and motion strata (genie_gym.evaluation), on hand-made frames."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genie_gym.evaluation import (
    EvalSettings,
    camera_strata,
    evaluate,
    mean_and_se,
    motion_fraction,
    motion_strata,
)
from genie_gym.models.configs import DynamicsConfig, TokenizerConfig
from genie_gym.models.dynamics import Dynamics
from genie_gym.models.tokenizer import VideoTokenizer
from genie_gym.world_model import WorldModel


def _textured(seed: int, width: int = 64) -> np.ndarray:
    """A uint8 (64, width, 3) frame of random 4x4 blocks (every column has edges, so any shift changes pixels)."""
    rng = np.random.default_rng(seed)
    blocks = rng.integers(0, 256, size=(16, width // 4, 3), dtype=np.uint8)
    return np.repeat(np.repeat(blocks, 4, axis=0), 4, axis=1)


def _still(length: int = 12) -> np.ndarray:
    return np.repeat(_textured(1)[None], length, axis=0)


def _scrolling(length: int = 12, speed: int = 2) -> np.ndarray:
    """The camera moves right ``speed`` px per frame over a wide textured level."""
    level = _textured(2, width=64 + speed * length)
    return np.stack([level[:, speed * t : speed * t + 64] for t in range(length)])


def _sprite_moving(length: int = 12) -> np.ndarray:
    """A static background and a 12x12 white sprite walking right 3 px per frame (3-12% of the pixels change)."""
    frames = _still(length).copy()
    for t in range(length):
        frames[t, 40:52, 3 * t : 12 + 3 * t] = 255
    return frames


def test_strata_split_hand_made_still_moving_and_scrolling_sequences():
    sequences = np.stack([_still(), _sprite_moving(), _scrolling()])
    context, targets = sequences[:, 1], sequences[:, 2:]
    fraction = motion_fraction(context, targets)
    assert fraction[0] == 0.0 and 0.03 < fraction[1] < 0.12 and fraction[2] > 0.5
    assert motion_strata(context, targets) == ["still", "moving", "scrolling"]
    # SMB's camera cross-check: the scroll is 2 px a frame, 20 px over the 10 predicted frames
    assert camera_strata(context, targets) == ["still", "still", "scrolling"]


@pytest.fixture(scope="module")
def tiny_world_model() -> WorldModel:
    torch.manual_seed(0)
    tokenizer = VideoTokenizer(TokenizerConfig(patch_size=8, d_model=32, num_heads=2, encoder_blocks=1,
                                               decoder_blocks=1, num_codes=32, latent_dim=8))
    dynamics = Dynamics(DynamicsConfig(num_codes=32, latent_dim=8, grid_size=8, d_model=32, num_heads=2,
                                       num_blocks=1), codebook=tokenizer.codebook_vectors().detach())
    return WorldModel(tokenizer, dynamics, {"game": "SMB"})


def _psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) / 255 - b.astype(np.float64) / 255) ** 2)
    return 10 * np.log10(1 / (mse + 1e-10))


def test_copy_baselines_and_paired_gains_equal_a_hand_computation(tiny_world_model):
    frames = np.stack([_still(), _sprite_moving(), _scrolling(), _scrolling(speed=4)])
    actions = np.zeros((4, 11), dtype=np.int64)
    result = evaluate(tiny_world_model, frames, actions, EvalSettings(maskgit_steps=2, batch_size=3))
    copy = np.array([np.mean([_psnr(seq[1], seq[t]) for t in range(2, 12)]) for seq in frames])
    reconstruction = tiny_world_model.decode(tiny_world_model.encode(frames))
    copy_tokenized = np.array([np.mean([_psnr(rec[1], seq[t]) for t in range(2, 12)])
                               for rec, seq in zip(reconstruction, frames, strict=True)])
    assert result.copy_psnr == pytest.approx(copy.mean(), abs=1e-3)
    assert result.copy_tokenized_psnr == pytest.approx(copy_tokenized.mean(), abs=1e-3)
    model = np.array(result.psnr_per_sequence)
    gain, gain_se = mean_and_se(model - copy)
    assert result.psnr_gain_over_copy == pytest.approx(gain, abs=1e-3)
    assert result.psnr_gain_over_copy_se == pytest.approx(gain_se, rel=1e-3)
    assert result.psnr_gain_over_copy_tokenized == pytest.approx((model - copy_tokenized).mean(), abs=1e-3)
    assert result.psnr_se == pytest.approx(model.std(ddof=1) / 2, rel=1e-3)
    # the still sequence's copy is perfect (the PSNR's 1e-10 floor: 100 dB)
    assert result.strata["still"]["n"] == 1 and result.strata["still"]["copy_psnr"] == pytest.approx(100, abs=0.01)
    assert result.strata["scrolling"]["n"] == 2 and result.strata["moving"]["n"] == 1
    assert result.strata["scrolling"]["copy_psnr"] == pytest.approx(copy[2:].mean(), abs=1e-3)
    assert sum(row["n"] for row in result.camera_strata.values()) == 4
    table = result.table()
    assert "copy PSNR" in table and "stratum scrolling" in table


def test_evaluation_resolves_its_sampling_settings_like_a_dream(tiny_world_model):
    """EvalSettings' sampling settings, given, win over dream.json's (as a dream env's arguments do), and the world
    model's own settings are left as they are; the protocol's 25 MaskGIT steps hold unless set (None: dream.json's)."""
    frames = np.stack([_sprite_moving(), _scrolling()])
    actions = np.zeros((2, 11), dtype=np.int64)
    held_file = WorldModel(tiny_world_model.tokenizer, tiny_world_model.dynamics,
                           {"game": "SMB", "maskgit_steps": 2, "hold_pixels": True, "hold_bias": 1.0})
    from_file = evaluate(held_file, frames, actions, EvalSettings(maskgit_steps=None))
    given = evaluate(tiny_world_model, frames, actions, EvalSettings(maskgit_steps=2, hold_pixels=True, hold_bias=1.0))
    assert from_file.psnr_per_sequence == given.psnr_per_sequence
    assert "hold_pixels" not in tiny_world_model.settings or not tiny_world_model.settings["hold_pixels"]
    plain = evaluate(held_file, frames, actions, EvalSettings(maskgit_steps=2, hold_pixels=False, hold_bias=0.0))
    assert plain.psnr_per_sequence == evaluate(tiny_world_model, frames, actions,
                                               EvalSettings(maskgit_steps=2)).psnr_per_sequence
    assert EvalSettings().maskgit_steps == 25
    with pytest.raises(ValueError, match="hold_bias must be >= 0"):
        evaluate(tiny_world_model, frames, actions, EvalSettings(maskgit_steps=2, hold_bias=-1.0))


def test_the_grid_overlay_covers_the_predicted_rows_only_and_only_when_asked(tiny_world_model, tmp_path):
    import cv2

    from genie_gym.play import overlay_uncertainty
    from genie_gym.uncertainty import sequence_uncertainty

    frames = np.stack([_still(), _sprite_moving(), _scrolling()])
    actions = np.random.default_rng(1).integers(0, 5, (3, 11))
    settings = EvalSettings(maskgit_steps=2, batch_size=2)
    grids, results = {}, {}
    for overlay in (False, True):
        path = tmp_path / f"grid_{overlay}.png"
        results[overlay] = evaluate(tiny_world_model, frames, actions, settings, grid_path=path, grid_overlay=overlay)
        grids[overlay] = cv2.cvtColor(cv2.imread(str(path)), cv2.COLOR_BGR2RGB)
    assert results[True].psnr_per_sequence == results[False].psnr_per_sequence  # the numbers do not change
    off, on = grids[False], grids[True]
    assert on.shape == off.shape
    tile = 64 * 2  # scale 2, three rows per sequence, blocks 8 px apart
    covered = np.zeros(off.shape[:2], dtype=bool)
    for i in range(3):
        top = i * (3 * tile + 8)
        covered[top + tile : top + 3 * tile] = True
        # the prediction row wears the heat map of the reward a dream pays for each predicted frame
        predicted = off[top + tile : top + 2 * tile : 2, ::2][:, : 10 * 64].reshape(64, 10, 64, 3).swapaxes(0, 1)
        clip = np.concatenate([frames[i, :2], predicted])
        maps = sequence_uncertainty(tiny_world_model, clip[None], actions[i : i + 1])[1][0, 1:]
        expected = np.concatenate([overlay_uncertainty(frame, frame_map) for frame, frame_map in
                                   zip(predicted, maps, strict=True)], axis=1)
        np.testing.assert_array_equal(on[top + tile : top + 2 * tile : 2, ::2][:, : 10 * 64], expected)
    assert np.array_equal(on[~covered], off[~covered])  # the ground truth and the bands are untouched
    assert (on[covered] != off[covered]).any(axis=-1).mean() > 0.5  # both predicted rows are covered


def test_grid_overlay_without_a_grid_is_refused_before_any_work(tiny_world_model, capsys):
    from genie_gym.cli import main

    frames, actions = _still()[None], np.zeros((1, 11), dtype=np.int64)
    with pytest.raises(ValueError, match="grid_path"):
        evaluate(tiny_world_model, frames, actions, EvalSettings(maskgit_steps=1), grid_overlay=True)
    assert main(["eval", "--checkpoint", "no-such-dir", "--data", "no-such-store", "--grid-overlay"]) == 1
    assert "--grid-overlay draws on the comparison grid: pass --grid FILE.png" in capsys.readouterr().err


def test_camera_strata_follow_the_games_of_the_data_not_the_models_default(tiny_world_model, tmp_path):
    """SMB's camera strata are reported for SMB sequences only: a multi-game model is evaluated on each game's
    store, whatever game it resets from by default; ``genie eval --games`` picks a store's games and is checked."""
    from genie_gym.commands.eval_command import _store_games
    from genie_gym.data.store import EpisodeStore
    from genie_gym.evaluation import evaluation_games
    from genie_gym.games import UnknownGameError

    store = EpisodeStore(tmp_path / "store")
    for game in ("SMB", "Kangaroo"):
        store.write(game, 0, _scrolling(length=13), np.zeros(12, dtype=np.int64))
    assert evaluation_games(store.root, "all") == {"SMB", "Kangaroo"}
    assert evaluation_games(store.root, "all", _store_games(str(store.root), "kangaroo")) == {"Kangaroo"}
    assert evaluation_games(tmp_path / "x.npz") is None
    with pytest.raises(UnknownGameError, match="--games Pitfall"):
        _store_games(str(store.root), "Pitfall")
    with pytest.raises(ValueError, match="drop --games"):
        _store_games(str(tmp_path / "x.npz"), "SMB")

    frames, actions = np.stack([_scrolling(), _still()]), np.zeros((2, 11), dtype=np.int64)
    settings = EvalSettings(maskgit_steps=1)
    assert evaluate(tiny_world_model, frames, actions, settings).camera_strata  # default game SMB, data unknown
    assert evaluate(tiny_world_model, frames, actions, settings, data_games={"Kangaroo"}).camera_strata == {}
    tiny_world_model.settings["game"] = "Kangaroo"
    try:
        assert evaluate(tiny_world_model, frames, actions, settings).camera_strata == {}
        assert evaluate(tiny_world_model, frames, actions, settings, data_games={"SMB"}).camera_strata
    finally:
        tiny_world_model.settings["game"] = "SMB"
