"""The annotation table covers every stable-retro integration: convention button maps per platform, lazy Gymnasium
ids for the unchecked games, and `genie annotate clips` for any game (a clear error while its ROM is missing)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import pytest

import genie_gym  # noqa: F401  (registers the ids)
from genie_gym.cli import main
from genie_gym.conventions import ACTION_NAMES
from genie_gym.envs.registration import eager_retro_games, register_retro_envs, resolve_env_id
from genie_gym.games import (
    PLATFORM_CORE,
    NoPlayableGameError,
    convention_buttons,
    get_game,
    load_games,
    platform_of,
    resolve_games,
)
from genie_gym.roms import RomMissingError, games_with_rom

# one unchecked game per platform of the table, and the button JUMP must press there (docs/DESIGN.md §3.2)
ONE_PER_PLATFORM = {
    "Nes": ("SuperMarioBros3-Nes-v0", "A"),
    "GameBoy": ("Tetris-GameBoy-v0", "A"),
    "Snes": ("SuperMarioWorld-Snes-v0", "B"),
    "Genesis": ("SonicTheHedgehog-Genesis-v0", "C"),
    "32x": ("VirtuaFighter-32x-v0", "C"),
    "Saturn": ("VirtuaFighter2-Saturn-v0", "C"),
    "Atari2600": ("Amidar-Atari2600-v0", "BUTTON"),
    "Sms": ("SonicTheHedgehog-Sms-v0", "B"),
    "Arcade": ("MortalKombat2-Arcade-v0", "B"),
    "N64": ("MortalKombatTrilogy-N64-v0", "A"),
}


def test_the_table_has_a_row_for_every_stable_retro_integration() -> None:
    import stable_retro.data

    integrated = set(stable_retro.data.list_games(stable_retro.data.Integrations.ALL))
    games = load_games()
    assert {g.retro_game for g in games} == integrated and len(games) == len(integrated) > 1000
    assert {g.platform for g in games} == set(ONE_PER_PLATFORM), "a new platform needs its example below"
    for game in games:
        assert game.platform == platform_of(game.retro_game), game.name
        if not game.verified:
            assert game.buttons == convention_buttons(game.platform), f"{game.name}: not the convention map"
            assert game.name == game.retro_game.removesuffix("-v0"), game.name
            assert not game.notes and not game.motion_style, game.name


@pytest.mark.parametrize("platform", sorted(ONE_PER_PLATFORM))
def test_button_map_of_one_game_per_platform(platform: str) -> None:
    import stable_retro  # noqa: F401  (loads the cores' metadata)
    import stable_retro.data

    retro_game, jump = ONE_PER_PLATFORM[platform]
    game = get_game(retro_game)
    assert game.platform == platform and not game.verified
    assert dict(zip(ACTION_NAMES, game.buttons, strict=True)) == {
        "RIGHT": ("RIGHT",), "LEFT": ("LEFT",), "UP": ("UP",), "DOWN": ("DOWN",), "JUMP": (jump,)}
    core_buttons = stable_retro.data.EMU_INFO[PLATFORM_CORE.get(platform, platform)]["buttons"]
    assert {b for pressed in game.buttons for b in pressed} <= set(core_buttons), "buttons the core has"
    assert get_game(retro_game.removesuffix("-v0")) is game, "RetroAct names (no -v0) find the row too"


def test_checked_rows_keep_their_own_maps() -> None:
    assert get_game("Airstriker").buttons[4] == ("B",), "checked on clips: A and C (the Genesis default) do nothing"
    assert get_game("SMB").verified and get_game("SuperMarioBros-Nes").name == "SMB"


def test_import_registers_only_the_checked_and_installed_games() -> None:
    code = ("import sys, gymnasium as gym, genie_gym, genie_gym.games as g; "
            "print(g._load_table.cache_info().currsize, 'stable_retro' in sys.modules, "
            "sum(i.startswith('GenieRetro-') for i in gym.registry))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert out[:2] == ["0", "False"], "import genie_gym builds no Game table and imports no stable-retro"
    assert int(out[2]) == len(eager_retro_games()) < 200
    assert {g.env_id for g in load_games() if g.verified} <= {env_id for _, env_id in eager_retro_games()}


def test_an_unchecked_game_is_registered_on_demand_and_says_what_to_do() -> None:
    game = get_game("SuperMarioWorld-Snes")
    if game.retro_game in games_with_rom():
        pytest.skip("SuperMarioWorld-Snes is playable here")
    gym.registry.pop(game.env_id, None)
    try:
        assert resolve_env_id(game.env_id) == game.env_id and game.env_id in gym.registry
        with pytest.raises(RomMissingError, match=r"genie roms import DIR.*SHA-1"):
            gym.make(game.env_id)
        assert register_retro_envs([game.retro_game]) == [game.env_id], "idempotent"
    finally:
        gym.registry.pop(game.env_id, None)


def test_annotate_clips_for_an_unchecked_game_without_its_rom(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    if get_game("SuperMarioWorld-Snes").retro_game in games_with_rom():
        pytest.skip("SuperMarioWorld-Snes is playable here")
    assert main(["annotate", "clips", "--games", "SuperMarioWorld-Snes", "--out", str(tmp_path)]) == 1
    error = capsys.readouterr().err
    assert "cannot play SuperMarioWorld-Snes-v0" in error and "genie roms import DIR" in error


def test_a_group_selects_its_playable_games(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert [g.name for g in resolve_games("all")] == ["Airstriker"], "an empty home: the game stable-retro ships"
    with pytest.raises(NoPlayableGameError, match=r"none of the \d+ games of 'unverified' is playable here"):
        resolve_games("unverified")
    assert main(["annotate", "clips", "--games", "platformers", "--out", str(isolated_home / "clips")]) == 1
    assert "genie roms install" in capsys.readouterr().err


def test_annotate_clips_records_any_playable_game(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    playable = [g for g in load_games() if g.retro_game in games_with_rom() and g.platform == "Atari2600"]
    if not playable:
        pytest.skip("ROMs not installed: run `genie roms install`")
    game = next((g for g in playable if not g.verified), playable[-1])  # an unchecked one where there is one
    args = ["annotate", "clips", "--games", game.name, "--out", str(tmp_path), "--steps", "4", "--warmup", "2",
            "--every", "2", "--json"]
    assert main(args) == 0
    assert f'"game": "{game.name}"' in capsys.readouterr().out
    assert (tmp_path / f"{game.name}.png").exists() and (tmp_path / game.name / "summary.json").exists()
