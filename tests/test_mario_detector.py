"""The shipped Mario detector (checkpoints/mario-detector) against the real game's own answer (its RAM and Mario's
palette pixels, genie_gym.probes.mario_train), and the hold-action probe that uses it."""

from __future__ import annotations

import numpy as np
import pytest

from genie_gym.cli import main
from genie_gym.conventions import preprocess_frame
from genie_gym.probes import mario_train
from genie_gym.probes.mario import MarioDetector


@pytest.fixture(scope="module")
def detector() -> MarioDetector:
    return MarioDetector.load()


@pytest.fixture(scope="module")
def real_play() -> dict[str, np.ndarray]:
    """80 steps of the runner on a seed outside every split of the training, with the game's labels, and every
    visible frame once more with Mario erased (status 0)."""
    return mario_train.play("runner", 4321, 80, erase_every=1)


def test_it_finds_mario_where_the_game_puts_him(detector: MarioDetector, real_play: dict) -> None:
    originals = np.flatnonzero(real_play["status"] == 1)
    assert len(originals) >= 30
    frames, pos = real_play["frames"][originals], real_play["pos"][originals]
    found = detector.visible(frames)
    assert found.mean() >= 0.9
    error = np.linalg.norm(detector.position(frames[found]) - pos[found], axis=1)
    assert np.median(error) <= 4 and (error <= 8).mean() >= 0.9  # within a 4x4 patch or two


def test_it_says_no_mario_on_black_and_on_an_erased_frame(detector: MarioDetector, real_play: dict) -> None:
    erased = np.flatnonzero((real_play["status"] == 0) & (np.roll(real_play["status"], 1) == 1))
    assert len(erased) >= 30  # each one right after its original
    assert detector.visible(real_play["frames"][erased]).mean() <= 0.1
    assert not detector.visible(np.zeros((2, 64, 64, 3), dtype=np.uint8)).any()
    assert np.isnan(detector.position(np.zeros((64, 64, 3), dtype=np.uint8))).all()  # one frame is a batch of one


def test_erase_removes_his_palette_only_near_him() -> None:
    full = np.full((224, 240, 3), (88, 148, 248), dtype=np.uint8)  # sky
    ram = np.zeros(10240, dtype=np.uint8)
    ram[mario_train.PLAYER_X], ram[mario_train.PLAYER_Y], ram[mario_train.PLAYER_SIZE] = 100, 150, 1
    ram[mario_train.GAME_TASK] = 3
    full[168:184, 92:108] = mario_train.BROWN  # small Mario's 16x16 sprite where the RAM puts him
    full[20:24, 20:24] = mario_train.RED  # his red far away: not his
    assert mario_train.label(full, ram)[0] == 1
    erased = mario_train.erase(full, ram)
    assert not (erased[168:184, 92:108] == mario_train.BROWN).all(-1).any()
    assert (erased[20:24, 20:24] == mario_train.RED).all()
    assert mario_train.label(erased, ram)[0] == 0
    row, col = mario_train.label(full, ram)[1:]
    # his pixels' centroid (row 175.5 + 8 rows of padding, column 99.5) in pixels of the 64x64 frame
    assert row == pytest.approx(184 * 64 / 240 - 0.5) and col == pytest.approx(100 * 64 / 240 - 0.5)
    assert preprocess_frame(erased).shape == (64, 64, 3)


def test_it_refuses_frames_of_the_wrong_shape(detector: MarioDetector) -> None:
    for bad in (np.zeros((2, 84, 84, 3), dtype=np.uint8), np.zeros((2, 64, 64, 3), dtype=np.float32),
                np.zeros((64, 64), dtype=np.uint8)):
        with pytest.raises(ValueError, match=r"uint8 frames \(N, 64, 64, 3\)"):
            detector.visible(bad)


def test_hold_action_probe_end_to_end(capsys) -> None:
    assert main(["probe", "hold-action", "--actions", "UP", "RIGHT", "--seeds", "1", "--steps", "6",
                 "--right-steps", "3", "--set", "maskgit_steps=1", "--threads", "1",
                 "--set", "change_temperature=0.1"]) == 0
    out = capsys.readouterr().out
    assert "6 steps held, then 3 of RIGHT" in out and "mario held" in out and "change_temperature 0.1;" in out
    rows = [line.split() for line in out.splitlines() if line.startswith(("UP ", "RIGHT "))]
    assert [row[:2] for row in rows] == [["UP", "dream"], ["RIGHT", "dream"]]
    assert all(row[2].endswith("%") and row[-1] in ("yes", "no") for row in rows)
    assert out.count(" real ") == 2


def test_the_training_options_are_recorded_as_the_shipped_detector_records_them() -> None:
    """``mario_train``'s options (MarioTrainSettings) parse to the ``args`` the shipped detector's config.json keeps,
    names and order."""
    import argparse
    import dataclasses

    from genie_gym.options import add_options, from_args

    parser = argparse.ArgumentParser()
    add_options(parser, mario_train.MarioTrainSettings)
    argv = ["--weights", "checkpoints/mario-detector"]
    recorded = dataclasses.asdict(from_args(mario_train.MarioTrainSettings, parser.parse_args(argv)))
    shipped = MarioDetector.load().card["args"]
    assert list(recorded.items()) == list(shipped.items())
