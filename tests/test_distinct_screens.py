"""The explorers' generic progress measure: distinct screens by a perceptual hash of the 64x64 frame
(``genie_gym.metrics.average_hash`` / ``distinct_screens``), on synthetic frames and on two real games."""

from __future__ import annotations

import numpy as np
import pytest

from genie_gym.metrics import average_hash, content_box, distinct_screens
from genie_gym.roms import rom_status


def _letterboxed(room: np.ndarray) -> np.ndarray:
    """A 64x64 frame with a 48-column picture between black bars (as an Atari frame padded to a square)."""
    frame = np.zeros((64, 64, 3), dtype=np.uint8)
    frame[:, 8:56] = room
    return frame


def test_average_hash_is_a_64_bit_fingerprint_that_ignores_brightness_and_small_changes() -> None:
    rng = np.random.default_rng(0)
    frame = rng.integers(0, 200, (64, 64, 3), dtype=np.uint8)
    hashes = average_hash(np.stack([frame, frame]))
    assert hashes.dtype == np.uint64 and hashes.shape == (2,) and hashes[0] == hashes[1]
    assert average_hash(frame) == hashes[0], "one frame gives a 0-d hash"
    brighter = (frame.astype(np.uint16) * 5 // 4).astype(np.uint8)
    assert average_hash(brighter) == average_hash(frame)
    sprite = frame.copy()
    sprite[30:32, 30:32] = 255  # a 2x2 sprite moved in
    assert distinct_screens(np.stack([frame, sprite])) == 1
    assert distinct_screens(np.stack([frame, sprite]), max_distance=0) <= 2
    assert distinct_screens(np.stack([frame, 255 - frame])) == 2, "the inverted picture is another screen"
    assert distinct_screens(np.zeros((0, 64, 64, 3), np.uint8)) == 0
    with pytest.raises(ValueError, match="uint8 RGB"):
        average_hash(np.zeros((4, 64, 64), np.uint8))
    with pytest.raises(ValueError, match="uint8 RGB"):
        average_hash(np.zeros((64, 64, 3), np.float32))


def test_the_black_border_is_cut_off_so_two_rooms_inside_it_differ() -> None:
    plain = np.full((64, 48, 3), 150, np.uint8)  # a grey room
    castle = plain.copy()
    castle[8:40, 12:36] = (210, 180, 80)  # a yellow castle in the middle
    frames = np.stack([_letterboxed(plain), _letterboxed(castle)])
    assert content_box(frames) == (slice(0, 64), slice(8, 56))
    assert distinct_screens(frames) == 2
    uncropped = average_hash(frames, crop_black_border=False)
    assert uncropped[0] == uncropped[1], "without the crop the black bars decide the hash"


def _run(game: str, action_of_step, steps: int) -> np.ndarray:
    from genie_gym.envs.retro_env import GenieRetroEnv

    env = GenieRetroEnv(game, max_episode_steps=steps)
    try:
        obs, _ = env.reset(seed=0)
        frames = [obs]
        for t in range(steps):
            obs, _, terminated, truncated, _ = env.step(action_of_step(t))
            frames.append(obs)
            if terminated or truncated:
                break
        return np.stack(frames)
    finally:
        env.close()


@pytest.mark.skipif(not rom_status("SuperMarioBros-Nes-v0").playable, reason="run `genie roms install`")
def test_smb_running_right_reaches_many_screens_and_standing_still_one() -> None:
    still = _run("SMB", lambda t: 2, 150)  # UP does nothing in SMB
    running = _run("SMB", lambda t: 0 if t % 8 < 4 else 4, 150)  # RIGHT, with jumps over the pipes
    assert distinct_screens(still) == 1
    assert distinct_screens(running) >= 20, "scrolling shows new screens"


@pytest.mark.skipif(not rom_status("Adventure-Atari2600-v0").playable, reason="run `genie roms install`")
def test_adventure_leaving_the_room_is_a_new_screen() -> None:
    still = _run("Adventure", lambda t: 2, 60)  # UP is blocked by the closed castle gate at the start
    down = _run("Adventure", lambda t: 3, 60)  # DOWN leaves the room (annotations.csv)
    assert distinct_screens(still) == 1
    assert distinct_screens(down) == 2
    assert distinct_screens(np.concatenate([still, down])) == 2, "the start room counts once"
