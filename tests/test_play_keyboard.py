"""``genie play`` driven by real key presses: a virtual X display (Xvfb), a real pygame window, keys sent by xdotool.

The headless tests (``SDL_VIDEODRIVER=dummy`` with ``--actions``) skip the keyboard; these press the keys a player
presses. They need Debian's ``xvfb`` and ``xdotool`` (``.ci/run`` installs them) and skip without them.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

GENIE = [sys.executable, "-m", "genie_gym.cli"]
WINDOW_CLASS = "genie-play-under-test"

pytestmark = pytest.mark.skipif(shutil.which("Xvfb") is None or shutil.which("xdotool") is None,
                                reason="needs Xvfb and xdotool (apt-get install xvfb xdotool; .ci/run does)")


@pytest.fixture()
def x_display():
    """Start Xvfb on a free display; yields the environment for a program on it, then stops the server."""
    read_end, write_end = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write_end), "-screen", "0", "1024x768x24", "-nolisten",
                               "tcp"], pass_fds=(write_end,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write_end)
    with os.fdopen(read_end) as pipe:
        number = pipe.readline().strip()
    assert number.isdigit(), "Xvfb did not report its display number"
    env = {**os.environ, "DISPLAY": f":{number}", "OMP_NUM_THREADS": "1"}
    env["SDL_VIDEO_X11_WMCLASS"] = WINDOW_CLASS  # what the window is found by
    env.pop("SDL_VIDEODRIVER", None)
    yield env
    server.terminate()
    server.wait(timeout=10)


def _xdotool(env: dict[str, str], *args: str) -> str:
    return subprocess.run(["xdotool", *args], env=env, capture_output=True, text=True, timeout=20).stdout.strip()


def _wait_for_window(env: dict[str, str], player: subprocess.Popen, timeout: float = 120.0) -> str:
    """The id of the ``genie play`` window once it is mapped; gives the player its input focus."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert player.poll() is None, f"genie play exited early: {player.communicate()[1]}"
        window = _xdotool(env, "search", "--class", WINDOW_CLASS).split("\n")[0]
        if window:
            _xdotool(env, "windowfocus", window)
            _xdotool(env, "mousemove", "--window", window, "20", "40")
            return window
        time.sleep(0.25)
    player.kill()
    raise AssertionError("no genie play window appeared")


def _hold(env: dict[str, str], key: str, seconds: float) -> None:
    _xdotool(env, "keydown", key)
    time.sleep(seconds)
    _xdotool(env, "keyup", key)


@pytest.mark.parametrize("video_format", ["gif", "mp4"])
def test_keys_play_the_real_game_toggle_side_by_side_reset_and_quit(x_display, tmp_path, video_format):
    """Arrows/space become the episode's actions, B shows the dream beside the game while recording, R starts a new
    episode, Esc quits; the store holds both episodes and the video spans both window sizes."""
    from genie_gym.data.store import EpisodeStore

    store, gif = tmp_path / "store", tmp_path / f"play.{video_format}"
    player = subprocess.Popen([*GENIE, "play", "GenieRetro-SMB-v0", "--fps", "15", "--scale", "2",
                               "--maskgit-steps", "1", "--record", str(gif), "--record-store", str(store)],
                              env=x_display, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_window(x_display, player)
    time.sleep(1.0)  # a few steps with no key held (UP)
    _hold(x_display, "Right", 2.5)
    _hold(x_display, "space", 1.0)
    _xdotool(x_display, "key", "r")  # reset: the first episode is archived
    time.sleep(1.0)
    _xdotool(x_display, "key", "b")  # side-by-side: the window doubles in width and the dream starts
    time.sleep(3.0)  # the shipped dream loads
    _hold(x_display, "Left", 3.0)
    _xdotool(x_display, "key", "Escape")
    out, err = player.communicate(timeout=120)
    assert player.returncode == 0, err
    assert "played" in out and f"wrote {gif}" in out

    episodes = EpisodeStore(store)
    first, second = episodes.load(("SMB", 0)), episodes.load(("SMB", 1))
    actions = first.actions.tolist()
    assert set(actions) <= {0, 2, 4}, actions  # nothing but no key (UP), Right and space was pressed
    runs = [a for i, a in enumerate(actions) if i == 0 or actions[i - 1] != a]
    assert runs[0] == 2, actions  # idle first
    assert [a for a in runs if a != 2][:2] == [0, 4], actions  # then the held Right, then the held space (a step
    # may fall between releasing one key and pressing the next: no key, UP)
    assert actions.count(0) >= 10 and actions.count(4) >= 3, actions
    assert not np.array_equal(first.frames[0], first.frames[-1])  # the game moved
    assert 1 in second.actions.tolist() and set(second.actions.tolist()) <= {1, 2}, second.actions.tolist()

    import imageio.v3 as iio

    video = iio.imread(gif)
    single_width = 64 * 2
    assert video.shape[2] == 2 * single_width + 4  # the side-by-side width
    assert (video[0, :, single_width + 2:] < 16).all()  # a real-only frame, padded with black to that width
    assert (video[-1, 30:, single_width + 4:] > 8).any()  # the last frames show the dream beside the game


def test_pause_and_single_step_by_key(x_display, tmp_path):
    """P stops the game (no step while paused, however long), N steps it exactly once, P again resumes."""
    from genie_gym.data.store import EpisodeStore

    store = tmp_path / "store"
    player = subprocess.Popen([*GENIE, "play", "GenieRetro-SMB-v0", "--fps", "15", "--scale", "1",
                               "--record-store", str(store)],
                              env=x_display, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_window(x_display, player)
    _xdotool(x_display, "key", "p")
    time.sleep(0.5)
    _xdotool(x_display, "keydown", "Right")  # held while paused: only the single steps take it
    for _ in range(3):
        _xdotool(x_display, "key", "n")
        time.sleep(0.4)
    time.sleep(1.5)
    _xdotool(x_display, "keyup", "Right")
    _xdotool(x_display, "key", "Escape")
    out, err = player.communicate(timeout=120)
    assert player.returncode == 0, err
    actions = EpisodeStore(store).load(("SMB", 0)).actions.tolist()
    assert actions.count(0) == 3, actions  # 2 s of Right held while paused gave exactly the 3 single steps
    assert actions[-3:] == [0, 0, 0], actions


def test_a_key_hands_the_game_from_the_policy_to_the_keyboard_and_back(x_display, tmp_path):
    """With --policy the policy plays from the start; A gives the game to the keys (Left held: LEFT, else UP) and A
    again back to the policy, whose actions are its own (replayed on the stored frames with the same seed)."""
    from genie_gym.agents.policy_agent import PolicyAgent
    from genie_gym.data.store import EpisodeStore

    store = tmp_path / "store"
    player = subprocess.Popen([*GENIE, "play", "GenieRetro-SMB-v0", "--policy", "ppo-in-dream-smb", "--fps", "15",
                               "--scale", "1", "--record-store", str(store)],
                              env=x_display, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    _wait_for_window(x_display, player)
    time.sleep(1.5)  # the policy plays
    _xdotool(x_display, "key", "a")
    time.sleep(0.3)
    _hold(x_display, "Left", 1.5)  # the keys play
    _xdotool(x_display, "key", "a")
    time.sleep(1.5)  # the policy again
    _xdotool(x_display, "key", "Escape")
    out, err = player.communicate(timeout=120)
    assert player.returncode == 0, err
    assert "(policy " in out and "keys " in out, out

    episodes = EpisodeStore(store)
    agent = PolicyAgent("ppo-in-dream-smb")
    players, actions = [], []
    for ref in episodes.refs("SMB"):  # the policy may lose a life and start a new episode
        episode = episodes.load(ref)
        played_by = [name for name, count in episode.meta["players"] for _ in range(count)]
        assert len(played_by) == len(episode.actions)
        agent.reset(0)  # every episode starts with the policy re-seeded by --seed
        for frame, action, name in zip(episode.frames, episode.actions.tolist(), played_by, strict=False):
            if name == "policy":
                assert agent.act(frame) == action  # the policy's own choice on the frame it saw
        players += played_by
        actions += episode.actions.tolist()
    runs = [name for i, name in enumerate(players) if i == 0 or players[i - 1] != name]
    assert runs == ["policy", "keys", "policy"], runs
    assert players.count("policy") >= 20 and players.count("keys") >= 10, players
    by_keys = [action for action, name in zip(actions, players, strict=True) if name == "keys"]
    assert set(by_keys) <= {1, 2} and by_keys.count(1) >= 5, by_keys  # no key (UP) and the held Left
