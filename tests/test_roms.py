"""``genie roms install|list`` through the real CLI, on real ROM files (no network: the SMB wheel is rebuilt from the
installed ROM)."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from genie_gym import roms
from genie_gym.cli import main
from genie_gym.games import load_games

INSTALLED_SMB_ROM = roms.integrations_dir() / roms.SMB_GAME / "rom.nes"  # before any test changes GENIE_GYM_HOME


@pytest.fixture
def smb_wheel(tmp_path: Path) -> Path:
    """A zip laid out like the gym-super-mario-bros wheel, holding the real SMB ROM of the current install."""
    rom = INSTALLED_SMB_ROM
    if not rom.exists():
        pytest.skip("SMB is not installed here: run `genie roms install`")
    wheel = tmp_path / "wheels" / roms.SMB_WHEEL_NAME
    wheel.parent.mkdir()
    with zipfile.ZipFile(wheel, "w") as zf:
        zf.writestr(roms.SMB_ROM_MEMBER, rom.read_bytes())
    return wheel


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def _rows(out: str) -> dict[str, list[str]]:
    """The game rows of `genie roms list`: env id -> [env id, platform, playable, states, checked, reason...]."""
    return {line.split()[0]: line.split() for line in out.splitlines() if line.startswith("GenieRetro-")}


def test_roms_list_reports_the_checked_and_playable_games(capsys: pytest.CaptureFixture[str]) -> None:
    if not roms.rom_status(roms.SMB_GAME).playable:
        pytest.skip("ROMs not installed: run `genie roms install`")
    assert main(["roms", "list"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    checked = [g for g in load_games() if g.verified]
    assert {g.env_id for g in checked} <= set(rows)
    assert all(rows[g.env_id][2:5] == ["yes", str(len(roms.start_states(g.retro_game))), "yes"] for g in checked)
    assert all(row[2] == "yes" for row in rows.values()), "by default: the checked games and the playable ones"
    playable = sum(g.retro_game in roms.games_with_rom() for g in load_games())
    assert f"{playable}/{len(load_games())} annotated games playable here; 34 checked on clips" in out
    assert "`genie roms list --all` lists every game" in out


def test_roms_list_on_the_full_table(capsys: pytest.CaptureFixture[str]) -> None:
    games = load_games()
    present = roms.games_with_rom()
    assert main(["roms", "list", "--all"]) == 0
    out = capsys.readouterr().out
    rows = _rows(out)
    assert list(rows) == [g.env_id for g in games], "one row per annotated game, in table order"
    for game in games:
        row = rows[game.env_id]
        assert row[1] == game.platform and row[2] == ("yes" if game.retro_game in present else "no"), game.name
        assert (row[5] == "ok") == (game.retro_game in present), f"{game.name}: a missing game says what to do"
    nes = rows["GenieRetro-1942-Nes-v0"]
    if nes[2] == "no":
        assert "genie roms import DIR" in " ".join(nes) and "SHA-1" in " ".join(nes)
    summary = {line.split()[0]: line.split() for line in out.split("\nplatform", 1)[1].splitlines()[1:]
               if line.split() and line.split()[0] in {g.platform for g in games}}
    assert sum(int(r[1]) for r in summary.values()) == len(games)
    assert int(summary["Snes"][1]) == sum(g.platform == "Snes" for g in games) > 150

    assert main(["roms", "list", "--missing", "--platform", "Snes,Sms"]) == 0
    rows = _rows(capsys.readouterr().out)
    expected = [g.env_id for g in games if g.platform in ("Snes", "Sms") and g.retro_game not in present]
    assert list(rows) == expected and all(row[2] == "no" for row in rows.values())

    assert main(["roms", "list", "--playable", "--group", "platformers"]) == 0
    rows = _rows(capsys.readouterr().out)
    assert all(row[2] == "yes" for row in rows.values())
    assert set(rows) == {g.env_id for g in games if "platformers" in g.groups and g.retro_game in present}

    assert main(["roms", "list", "--platform", "Dreamcast"]) == 1
    assert "unknown platform dreamcast: pass one of" in capsys.readouterr().err


def test_roms_list_on_an_empty_home_says_how_to_fix(isolated_home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["roms", "list"]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.startswith("GenieRetro-")}
    assert " no " in lines["GenieRetro-SMB-v0"] and "genie roms install" in lines["GenieRetro-SMB-v0"]
    assert " no " in lines["GenieRetro-Pong-v0"]
    assert " yes " in lines["GenieRetro-Airstriker-v0"], "Airstriker ships with stable-retro"


def test_roms_install_then_reinstall_rewrites_nothing(
    isolated_home: Path, smb_wheel: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["roms", "install", "--smb-wheel", str(smb_wheel)]) == 0
    first = _snapshot(isolated_home)
    integrations = isolated_home / "integrations"
    assert (integrations / roms.SMB_GAME / "rom.nes").read_bytes() == zipfile.ZipFile(smb_wheel).read(
        roms.SMB_ROM_MEMBER
    )
    assert (integrations / "Pong-Atari2600-v0" / "rom.a26").exists()
    assert not any(name.endswith(".tmp") for name in first), "no half-written files left behind"

    main(["roms", "list"])
    checked = [g for g in load_games() if g.verified]
    rows = _rows(capsys.readouterr().out)
    assert all(rows[g.env_id][2] == "yes" for g in checked), "every checked game is playable after the install"

    assert main(["roms", "install", "--smb-wheel", str(smb_wheel)]) == 0
    assert "ROMs ready" in capsys.readouterr().out
    assert _snapshot(isolated_home) == first, "a second install must not rewrite (or add) any file"


def test_install_rejects_a_wrong_wheel(isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / roms.SMB_WHEEL_NAME
    with zipfile.ZipFile(bad, "w") as zf:
        zf.writestr(roms.SMB_ROM_MEMBER, b"not the ROM")
    assert main(["roms", "install", "--smb-wheel", str(bad)]) == 1
    assert "unexpected SHA-1" in capsys.readouterr().err
    assert not (isolated_home / "integrations" / roms.SMB_GAME / "rom.nes").exists()
