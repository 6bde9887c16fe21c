"""The annotation table (``annotations.csv``), game/group resolution, and the ``genie annotate clips`` tool."""

from __future__ import annotations

import json
from pathlib import Path

import cv2
import pytest

from genie_gym.conventions import ACTION_NAMES
from genie_gym.games import (
    AXES,
    PLATFORM_CORE,
    VIEWS,
    UnknownGameError,
    get_game,
    group_members,
    group_names,
    load_games,
    resolve_games,
)
from genie_gym.roms import games_with_rom, rom_status

JUMP_BUTTON = {"Nes": "A", "Atari2600": "BUTTON"}  # docs/DESIGN.md §3.2 (Genesis is per game: Airstriker fires with B)


def test_table_has_every_game_once_and_the_34_checked_rows() -> None:
    games = load_games()
    assert len({g.name.lower() for g in games}) == len(games)
    assert len({g.retro_game for g in games}) == len(games)
    checked = [g for g in games if g.verified]
    assert len(checked) == 34 and checked == list(games[:34]), "the checked rows come first, as they were"
    for game in checked:
        assert game.view in VIEWS, f"{game.name}: unknown view {game.view!r}"
        assert game.axis in AXES, f"{game.name}: unknown control axis {game.axis!r}"
        assert game.motion_style and game.genre, game.name
        assert game.retro_game.endswith(f"-{game.platform}-v0"), f"{game.name}: platform does not match"
        assert game.notes, f"{game.name}: notes should say what the actions really do"


def test_every_row_names_buttons_its_emulator_has() -> None:
    import stable_retro.data

    known = set(stable_retro.data.list_games(stable_retro.data.Integrations.ALL))
    import stable_retro  # noqa: F401  (loads the cores' metadata into EMU_INFO)

    for game in load_games():
        assert game.retro_game in known, f"stable-retro has no integration for {game.retro_game}"
        core = PLATFORM_CORE.get(game.platform, game.platform)
        buttons = {b for b in stable_retro.data.EMU_INFO[core]["buttons"] if b}
        assert len(game.buttons) == len(ACTION_NAMES)
        for action, pressed in zip(ACTION_NAMES, game.buttons, strict=True):
            assert pressed, f"{game.name}: {action} presses no button"
            assert set(pressed) <= buttons, f"{game.name}: {action} = {pressed}, {game.platform} has {sorted(buttons)}"


def test_directions_are_the_dpad_and_jump_follows_the_design() -> None:
    for game in load_games():
        assert game.buttons[:4] == (("RIGHT",), ("LEFT",), ("UP",), ("DOWN",)), game.name
        if game.platform in JUMP_BUTTON:
            assert game.buttons[4] == (JUMP_BUTTON[game.platform],), game.name
    assert get_game("Airstriker").buttons[4] == ("B",), "Airstriker fires with B (A and C do nothing)"


def test_platformers_group() -> None:
    if not rom_status("SuperMarioBros-Nes-v0").playable:
        pytest.skip("ROMs not installed: run `genie roms install`")
    platformers = resolve_games("platformers")
    names = {g.name for g in platformers}
    assert "SMB" in names and {"MontezumaRevenge", "Kangaroo", "ElevatorAction", "Hero"} <= names
    assert all(g.retro_game in games_with_rom() for g in platformers), "a group selects the games playable here"
    for game in platformers:
        assert "platformers" in game.groups and game.genre == "platformer" and game.view == "side", game.name
    members = {g.name for g in group_members("platformers")}
    for game in load_games():
        assert (game.genre == "platformer") == (game.name in members), f"{game.name}: genre and group disagree"
    assert not names & {"Pong", "Breakout", "Qbert", "PrivateEye", "Seaquest"}


def test_resolve_games_specs() -> None:
    assert [g.name for g in resolve_games("SMB")] == ["SMB"]
    assert [g.name for g in resolve_games("supermariobros-nes-v0")] == ["SMB"]
    playable = [g for g in load_games() if g.retro_game in games_with_rom()]
    assert resolve_games("all") == playable, "all: every annotated game playable here"
    assert [g.name for g in resolve_games("SuperMarioWorld-Snes")] == ["SuperMarioWorld-Snes"], "named: as named"
    mixed = [g.name for g in resolve_games("Pong, platformers,SMB")]
    assert mixed[0] == "Pong" and mixed.count("SMB") == 1
    assert "shooters" in group_names() and "all" in group_names()
    with pytest.raises(UnknownGameError, match="unknown game 'NoSuchGame'.*checked ones: SMB, Airstriker"):
        resolve_games("NoSuchGame")
    with pytest.raises(UnknownGameError, match="did you mean SuperMarioWorld-Snes"):
        get_game("SuperMarioWorl-Snes")


@pytest.fixture(scope="module")
def smb_clips():
    if not rom_status("SuperMarioBros-Nes-v0").playable:
        pytest.skip("ROMs not installed: run `genie roms install`")
    from genie_gym.annotation_clips import ClipSettings, record_game_clips

    return record_game_clips("SMB", ClipSettings(steps=12, warmup_steps=10, warmup_action="noop", every=4, seed=0))


def test_clips_start_from_one_state_and_show_the_smb_mapping(smb_clips) -> None:
    import numpy as np

    assert [c.action for c in smb_clips.actions] == list(ACTION_NAMES)
    start = smb_clips.baseline.frames[0]
    for clip in smb_clips.actions:
        assert len(clip.frames) == 13 and clip.frames[0].shape == (224, 240, 3)
        np.testing.assert_array_equal(clip.frames[0], start)
    by_name = {c.action: c for c in smb_clips.actions}
    assert by_name["RIGHT"].pixel_diff > 5 * by_name["LEFT"].pixel_diff > 0, "RIGHT scrolls the level"
    assert by_name["JUMP"].changed_pct > 0 and by_name["JUMP"].ram_bytes > 0
    assert by_name["UP"].pixel_diff == 0, "UP does nothing visible in SMB"


def test_clip_pngs_and_summary(smb_clips, tmp_path: Path) -> None:
    from genie_gym.annotation_clips import write_game_clips

    written = write_game_clips(smb_clips, tmp_path)
    combined = cv2.imread(str(tmp_path / "SMB.png"))
    strip = cv2.imread(str(tmp_path / "SMB" / "RIGHT.png"))
    assert combined is not None and strip is not None
    frames_per_strip = 4  # steps 0, 4, 8, 12
    assert strip.shape[1] >= frames_per_strip * 240 and strip.shape[0] >= 224
    assert combined.shape[0] >= 5 * 224, "one full-resolution row per action"
    for name in (*ACTION_NAMES, "NOPRESS"):
        assert (tmp_path / "SMB" / f"{name}.png") in written
    summary = json.loads((tmp_path / "SMB" / "summary.json").read_text())
    assert set(summary["actions"]) == set(ACTION_NAMES) and summary["actions"]["JUMP"]["buttons"] == "A"


def test_annotate_clips_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    if not rom_status("Pong-Atari2600-v0").playable:
        pytest.skip("ROMs not installed: run `genie roms install`")
    from genie_gym.cli import main

    args = ["annotate", "clips", "--games", "Pong", "--out", str(tmp_path), "--steps", "6", "--warmup", "4",
            "--warmup-action", "JUMP,noop", "--probe", "RESET"]
    assert main(args) == 0
    out = capsys.readouterr().out
    assert "Pong" in out and "probe RESET" in out
    pong = tmp_path / "Pong.png"
    assert pong.exists() and (tmp_path / "Pong" / "probes.png").exists()
    mtime = pong.stat().st_mtime_ns
    assert main(args) == 0, "second run skips the finished game (resumable)"
    assert pong.stat().st_mtime_ns == mtime
    assert main(["annotate", "clips", "--games", "Pong", "--out", str(tmp_path), "--warmup-action", "FIRE"]) == 1
    assert "warm-up must be" in capsys.readouterr().err
