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


def test_roms_list_reports_every_annotated_game(capsys: pytest.CaptureFixture[str]) -> None:
    if not roms.rom_status(roms.SMB_GAME).playable:
        pytest.skip("ROMs not installed: run `genie roms install`")
    assert main(["roms", "list"]) == 0
    out = capsys.readouterr().out
    games = load_games()
    for game in games:
        assert game.env_id in out
    assert f"{len(games)}/{len(games)} annotated games playable here" in out


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
    games = load_games()
    assert f"{len(games)}/{len(games)} annotated games playable here" in capsys.readouterr().out

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
