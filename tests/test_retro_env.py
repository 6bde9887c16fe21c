"""GenieRetroEnv on the real emulator: shapes, preprocessing, env checkers, button mapping, frame skip, seeding,
errors and the shared-emulator save/restore. Needs the ROMs (``genie roms install``)."""

from __future__ import annotations

import os
import warnings

os.environ.setdefault("SDL_VIDEODRIVER", "dummy")  # the env checkers open the "human" render mode

import cv2
import gymnasium as gym
import numpy as np
import pytest

import genie_gym  # noqa: F401  (registers the GenieRetro-* ids)
from genie_gym.conventions import ACTION_NAMES, FRAME_SKIP, pad_to_square, preprocess_frame
from genie_gym.envs.retro_env import GenieRetroEnv
from genie_gym.games import UnknownGameError, get_game, load_games
from genie_gym.roms import RomMissingError, rom_status

RIGHT, LEFT, UP, DOWN, JUMP = range(5)
REGISTERED_IDS = sorted(env_id for env_id in gym.registry if env_id.startswith("GenieRetro-"))

pytestmark = pytest.mark.skipif(
    not rom_status("SuperMarioBros-Nes-v0").playable, reason="ROMs not installed: run `genie roms install`"
)


@pytest.fixture
def smb():
    """A real SMB env (closed afterwards so the process's single emulator is free again)."""
    env = GenieRetroEnv("SMB")
    yield env
    env.close()


def mario_x(env: GenieRetroEnv) -> int:
    """Mario's absolute x position in the level (RAM 0x6D page * 256 + 0x86)."""
    ram = env.ram()
    return int(ram[0x6D]) * 256 + int(ram[0x86])


def mario_y(env: GenieRetroEnv) -> int:
    """Mario's y position on screen (RAM 0xCE; smaller = higher)."""
    return int(env.ram()[0xCE])


def test_smb_spaces_and_shapes(smb: GenieRetroEnv) -> None:
    obs, info = smb.reset(seed=0)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert smb.observation_space.contains(obs)
    assert smb.action_space == gym.spaces.Discrete(5)
    assert smb.full_frame.shape == (224, 240, 3) and smb.full_frame.dtype == np.uint8
    assert info["game"] == "SMB"
    obs, reward, terminated, truncated, info = smb.step(RIGHT)
    assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    assert isinstance(reward, float) and terminated is False and truncated is False
    assert smb.render() is None  # no render_mode: None (Gymnasium's contract); full_frame holds the frame
    rgb = GenieRetroEnv("SMB", render_mode="rgb_array")
    rgb.reset(seed=0)
    assert rgb.render().shape == (224, 240, 3)
    rgb.close()


def test_preprocess_pads_nes_frame_with_8_black_rows(smb: GenieRetroEnv) -> None:
    obs, _ = smb.reset(seed=0)
    frame = smb.full_frame
    assert frame[:8].any() and frame[-8:].any(), "the real SMB frame has content at its top and bottom rows"
    square = pad_to_square(frame)
    assert square.shape == (240, 240, 3)
    assert not square[:8].any() and not square[-8:].any(), "8 black rows above and below"
    np.testing.assert_array_equal(square[8:232], frame)
    expected = cv2.resize(square, (64, 64), interpolation=cv2.INTER_AREA)
    np.testing.assert_array_equal(preprocess_frame(frame), expected)
    np.testing.assert_array_equal(obs, expected)
    stretched = cv2.resize(frame, (64, 64), interpolation=cv2.INTER_AREA)
    assert not np.array_equal(obs, stretched), "the observation must be padded, not stretched"


def test_the_checked_and_installed_games_are_registered() -> None:
    from genie_gym.envs.registration import eager_retro_games

    assert REGISTERED_IDS == sorted(env_id for _, env_id in eager_retro_games())
    assert {g.env_id for g in load_games() if g.verified} <= set(REGISTERED_IDS)


@pytest.mark.parametrize("env_id", REGISTERED_IDS)
def test_env_checkers_pass(env_id: str) -> None:
    from gymnasium.utils.env_checker import check_env as gymnasium_check_env
    from stable_baselines3.common.env_checker import check_env as sb3_check_env

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        env = gym.make(env_id).unwrapped
        try:
            gymnasium_check_env(env)  # also makes the "rgb_array" and "human" render modes through the spec
        finally:
            env.close()
        env = gym.make(env_id).unwrapped
        try:
            sb3_check_env(env, warn=True)
        finally:
            env.close()
    problems = [str(w.message) for w in caught if issubclass(w.category, UserWarning)]
    assert not problems, problems


def _hold(env: GenieRetroEnv, action: int, steps: int, probe) -> list[int]:
    env.reset(seed=0)
    values = []
    for _ in range(steps):
        env.step(action)
        values.append(probe(env))
    return values


def test_smb_right_moves_mario_right_and_left_does_not(smb: GenieRetroEnv) -> None:
    smb.reset(seed=0)
    start = mario_x(smb)
    right = _hold(smb, RIGHT, 30, mario_x)
    left = _hold(smb, LEFT, 30, mario_x)
    assert right[-1] > start + 100, f"RIGHT should walk Mario right: x {start} -> {right}"
    assert max(left) <= start, f"LEFT must not move Mario right: x {start} -> {left}"
    assert left[-1] < start, "LEFT walks Mario left (to the edge of the screen)"


def test_smb_jump_raises_mario_and_other_actions_do_not(smb: GenieRetroEnv) -> None:
    smb.reset(seed=0)
    ground = mario_y(smb)
    jump = _hold(smb, JUMP, 15, mario_y)
    assert min(jump) < ground - 30, f"JUMP should lift Mario (RAM 0xCE decreases): {ground} -> {jump}"
    for action in (RIGHT, LEFT, UP, DOWN):
        heights = _hold(smb, action, 15, mario_y)
        assert min(heights) == ground, f"{ACTION_NAMES[action]} must not make Mario jump: {heights}"


def test_one_step_is_four_emulator_frames(smb: GenieRetroEnv) -> None:
    smb.reset(seed=0)
    for action in range(5):
        before = int(smb.ram()[0x09])  # SMB's frame counter, +1 per emulator frame
        smb.step(action)
        assert (int(smb.ram()[0x09]) - before) % 256 == FRAME_SKIP


def test_steps_match_stable_retro_stepped_four_frames_directly() -> None:
    import stable_retro

    from genie_gym.roms import register_custom_integrations

    actions = [RIGHT] * 6 + [JUMP] * 5 + [LEFT] * 3 + [DOWN, UP]
    env = GenieRetroEnv("SMB", noop_reset_max=0)
    env.reset(seed=0)
    frames = []
    for action in actions:
        env.step(action)
        frames.append(env.full_frame.copy())
    buttons = env.buttons
    env.close()

    register_custom_integrations()
    raw = stable_retro.make("SuperMarioBros-Nes-v0", inttype=stable_retro.data.Integrations.ALL,
                            use_restricted_actions=stable_retro.Actions.ALL, render_mode="rgb_array")
    try:
        raw.reset(seed=0)
        game = get_game("SMB")
        for t, action in enumerate(actions):
            pressed = np.array([name in game.buttons[action] for name in buttons], dtype=np.int8)
            for _ in range(FRAME_SKIP):
                frame = raw.step(pressed)[0]
            np.testing.assert_array_equal(frame, frames[t], err_msg=f"step {t} ({ACTION_NAMES[action]})")
    finally:
        raw.close()


def _rollout(env: GenieRetroEnv, seed: int, actions: list[int]) -> np.ndarray:
    obs, _ = env.reset(seed=seed)
    return np.stack([obs] + [env.step(a)[0] for a in actions])


def test_same_seed_same_observations(smb: GenieRetroEnv) -> None:
    actions = [int(a) for a in np.random.default_rng(0).integers(0, 5, size=25)]
    first = _rollout(smb, 7, actions)
    second = _rollout(smb, 7, actions)
    np.testing.assert_array_equal(first, second)
    assert len({o.tobytes() for o in first}) > 5, "the rollout must actually change the screen"


def test_different_seeds_start_after_different_noops(smb: GenieRetroEnv) -> None:
    counters, observations = set(), set()
    for seed in range(8):
        obs, _ = smb.reset(seed=seed)
        counters.add(int(smb.ram()[0x09]))
        observations.add(obs.tobytes())
    assert len(counters) > 1, "seeded no-op starts should differ between seeds"
    assert len(observations) > 1


@pytest.mark.parametrize("action", [5, -1, 2.5, "x", None, [0, 1], "1", 2.0, True, np.array([1])])
def test_bad_action_raises_one_clear_value_error(smb: GenieRetroEnv, action: object) -> None:
    smb.reset(seed=0)
    ram_before = smb.ram()
    with pytest.raises(ValueError, match=r"invalid action .*expected one integer in \[0, 5\)"):
        smb.step(action)
    np.testing.assert_array_equal(smb.ram(), ram_before, err_msg="a rejected action must not advance the game")


def test_numpy_integer_actions_are_accepted(smb: GenieRetroEnv) -> None:
    smb.reset(seed=0)
    for action in (np.int64(0), np.array(4), np.uint8(3), 1):
        smb.step(action)


def test_missing_rom_names_the_install_command(monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    from stable_retro.data import Integrations

    Integrations._init()
    # stable-retro keeps custom integration paths in a class-level list: give this test an empty one (restored after)
    monkeypatch.setattr(Integrations, "CUSTOM_PATHS", [])
    monkeypatch.setenv("GENIE_GYM_HOME", str(tmp_path))
    with pytest.raises(RomMissingError, match="genie roms install") as excinfo:
        GenieRetroEnv("SMB")
    assert "SuperMarioBros-Nes-v0" in str(excinfo.value)
    assert isinstance(excinfo.value, FileNotFoundError)


def test_missing_rom_test_left_integrations_intact() -> None:
    """The previous test must not leak: SMB is playable again from the real ROM home."""
    assert rom_status("SuperMarioBros-Nes-v0").playable


def test_unknown_game_lists_known_games() -> None:
    with pytest.raises(UnknownGameError) as excinfo:
        GenieRetroEnv("NoSuchGame")
    message = str(excinfo.value)
    assert "NoSuchGame" in message and "SMB" in message and "Pong" in message
    assert isinstance(excinfo.value, KeyError)


# stable-retro's Atari (Stella) core does not serialise everything that drives emulation for a few games (Breakout,
# Jamesbond, MontezumaRevenge, Pong, Qbert): after em.set_state the run diverges from the uninterrupted one within a
# frame, even on the same emulator, so switching envs in one process cannot be exact for them. The other 29 annotated
# games (SMB, Airstriker, Seaquest, ...) restore exactly.
@pytest.mark.parametrize(
    "other",
    [
        "Seaquest",
        pytest.param("Pong", marks=pytest.mark.xfail(
            strict=True, reason="Stella save/restore is not exact for Pong (emulator limitation, see comment)")),
    ],
)
def test_two_envs_interleaved_match_each_alone(other: str) -> None:
    rng = np.random.default_rng(1)
    smb_actions = [int(a) for a in rng.integers(0, 5, size=12)]
    other_actions = [int(a) for a in rng.integers(0, 5, size=12)]

    def alone(game: str, actions: list[int]) -> np.ndarray:
        env = GenieRetroEnv(game)
        try:
            return _rollout(env, 3, actions)
        finally:
            env.close()

    smb_alone, other_alone = alone("SMB", smb_actions), alone(other, other_actions)

    smb, other_env = GenieRetroEnv("SMB"), GenieRetroEnv(other)
    try:
        smb_obs, other_obs = [smb.reset(seed=3)[0]], [other_env.reset(seed=3)[0]]
        for a, b in zip(smb_actions, other_actions, strict=True):
            smb_obs.append(smb.step(a)[0])
            other_obs.append(other_env.step(b)[0])
        full_smb = smb.full_frame
    finally:
        smb.close()
        other_env.close()
    np.testing.assert_array_equal(np.stack(smb_obs), smb_alone)
    np.testing.assert_array_equal(np.stack(other_obs), other_alone)
    assert len({o.tobytes() for o in other_obs}) > 3 and len({o.tobytes() for o in smb_obs}) > 3
    assert full_smb.shape == (224, 240, 3)
