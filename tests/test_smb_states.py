"""Start states (SMB's levels): ``gym.make(..., state=...)`` reaches the emulator, an unknown state is one clear error,
and ``genie collect --states`` spreads episodes over states and records each episode's state (docs/DATA_FORMAT.md)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest

import genie_gym  # noqa: F401  (registers the ids)
from genie_gym.agents.random_agent import agent_factory
from genie_gym.cli import main
from genie_gym.collection import collect, episode_state
from genie_gym.data.store import EpisodeStore, check_episode, load_episode
from genie_gym.roms import (
    UnknownStateError,
    default_start_state,
    resolve_start_states,
    rom_status,
    start_states,
)

SMB = "SuperMarioBros-Nes-v0"
pytestmark = pytest.mark.skipif(not rom_status(SMB).playable, reason="ROMs not installed: run `genie roms install`")
SMB_LEVELS = ["Level1-1", "Level1-4", "Level2-1", "Level3-1", "Level4-1", "Level5-1", "Level6-1", "Level7-1",
              "Level8-1"]


def _first_frame(state: str | None) -> tuple[np.ndarray, dict]:
    kwargs = {} if state is None else {"state": state}
    env = gym.make("GenieRetro-SMB-v0", **kwargs)
    try:
        obs, info = env.reset(seed=0)
        return obs, info
    finally:
        env.close()


def test_smb_has_its_level_states_and_level_1_1_is_the_default() -> None:
    states = start_states(SMB)
    assert set(SMB_LEVELS) <= set(states) and len(states) == 12
    assert default_start_state(SMB) == "Level1-1"
    assert resolve_start_states(SMB, None) == [None]
    assert resolve_start_states(SMB, "all") == states
    assert resolve_start_states(SMB, "level2-1, Level3-1,Level2-1") == ["Level2-1", "Level3-1"]
    assert resolve_start_states("Pong-Atari2600-v0", "all") == ["Start"], "all leaves out the 2-player state"


def test_state_reaches_the_emulator_level_2_1_differs_from_1_1_at_reset() -> None:
    default, default_info = _first_frame(None)
    level_1_1, info_1_1 = _first_frame("Level1-1")
    level_2_1, info_2_1 = _first_frame("Level2-1")
    # levelHi is the world (0-based) in SMB's RAM
    assert (default_info["levelHi"], info_1_1["levelHi"], info_2_1["levelHi"]) == (0, 0, 1)
    np.testing.assert_array_equal(default, level_1_1)  # the default state is Level1-1
    changed = np.abs(level_2_1.astype(np.int16) - level_1_1).max(axis=-1) > 16
    assert changed.mean() > 0.05, f"Level2-1's first frame should differ from 1-1's, {changed.mean():.1%} differs"
    env = gym.make("GenieRetro-SMB-v0", state="level2-1")
    try:
        assert env.unwrapped.start_state == "Level2-1"
        obs, _ = env.reset(seed=0)
        np.testing.assert_array_equal(obs, level_2_1)
    finally:
        env.close()


def test_unknown_state_is_one_clear_error_listing_the_states() -> None:
    with pytest.raises(UnknownStateError) as excinfo:
        gym.make("GenieRetro-SMB-v0", state="Level9-1")
    message = str(excinfo.value)
    assert isinstance(excinfo.value, ValueError) and "\n" not in message
    assert "'Level9-1'" in message and all(level in message for level in SMB_LEVELS)
    with pytest.raises(UnknownStateError, match="Start"):
        gym.make("GenieRetro-Pong-v0", state="Level1-1")


def _states_by_index(store: Path) -> dict[int, str | None]:
    refs = EpisodeStore(store).refs("SMB")
    return {ref.index: json.loads((ref.path / "meta.json").read_text())["state"] for ref in refs}


def test_collect_spreads_episodes_over_two_states_and_records_them(tmp_path: Path) -> None:
    out = tmp_path / "levels"
    result = collect(["SMB"], agent_factory("sticky-random"), episodes=4, max_steps=8, workers=0, out_dir=out,
                     seed=1, progress=False, states="Level1-1,Level2-1")
    assert result.collected == 4
    assert _states_by_index(out) == {0: "Level1-1", 1: "Level2-1", 2: "Level1-1", 3: "Level2-1"}
    store = EpisodeStore(out)
    first = {index: load_episode(store.ref("SMB", index)).frames[0] for index in range(4)}
    level_1_1, level_2_1 = first[0].astype(np.int16), first[1]
    assert (np.abs(level_1_1 - level_2_1).max(axis=-1) > 16).mean() > 0.05, "episode 1 starts in world 2"

    again = collect(["SMB"], agent_factory("sticky-random"), episodes=4, max_steps=8, workers=0, out_dir=out, seed=1,
                    progress=False, states=["Level1-1", "Level2-1"])
    assert (again.collected, again.skipped) == (0, 4), "the same states resume"
    with pytest.raises(ValueError, match="start state 'Level2-1'.*--states"):
        collect(["SMB"], agent_factory("sticky-random"), episodes=4, max_steps=8, workers=0, out_dir=out, seed=1,
                progress=False)


def test_store_without_state_keys_resumes_as_the_default_state(tmp_path: Path) -> None:
    out = tmp_path / "old"
    collect(["SMB"], agent_factory("sticky-random"), episodes=2, max_steps=5, workers=0, out_dir=out, seed=2,
            progress=False)
    assert _states_by_index(out) == {0: "Level1-1", 1: "Level1-1"}, "the default state is recorded by name"
    for ref in EpisodeStore(out).refs("SMB"):  # a store written before genie-gym recorded the state
        meta_file = ref.path / "meta.json"
        meta = json.loads(meta_file.read_text())
        del meta["state"]
        meta_file.write_text(json.dumps(meta))
        assert "state" not in check_episode(ref)
    result = collect(["SMB"], agent_factory("sticky-random"), episodes=3, max_steps=5, workers=0, out_dir=out, seed=2,
                     progress=False)
    assert (result.collected, result.skipped) == (1, 2)
    copy = tmp_path / "copy"
    shutil.copytree(out, copy)
    with pytest.raises(ValueError, match="start state 'Level1-1'"):
        collect(["SMB"], agent_factory("sticky-random"), episodes=3, max_steps=5, workers=0, out_dir=copy, seed=2,
                progress=False, states="Level2-1")


def test_genie_collect_states_all_through_the_cli(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "all"
    assert main(["collect", "--env", "SMB", "--states", "all", "--episodes", "3", "--max-steps", "4", "--workers", "2",
                 "--out", str(out), "--seed", "0", "--no-progress"]) == 0
    everything = start_states(SMB)
    assert _states_by_index(out) == {i: episode_state(everything, i) for i in range(3)}
    assert _states_by_index(out)[2] == "Level1-4"
    assert main(["collect", "--env", "SMB", "--states", "Level9-1", "--episodes", "1", "--out", str(tmp_path / "x"),
                 "--workers", "0", "--no-progress"]) == 1
    error = capsys.readouterr().err.strip()
    assert error.count("\n") == 0 and "no start state 'Level9-1'" in error and "Level8-1" in error
