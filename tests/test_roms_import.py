"""``genie roms import DIR`` on real ROM files (the SMB ROM that ``genie roms install`` provisions and an Atari ROM of
ale-py, under other file names) and junk, in an isolated ``GENIE_GYM_HOME``; ``genie roms list`` says what to do."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import pytest

from genie_gym import roms
from genie_gym.cli import main

INSTALLED_SMB_ROM = roms.integrations_dir() / roms.SMB_GAME / "rom.nes"  # before any test changes GENIE_GYM_HOME
SHIPPED_SMB_DIR = roms._find_shipped_integration(roms.SMB_GAME)


@pytest.fixture
def smb_rom() -> bytes:
    if not INSTALLED_SMB_ROM.exists():
        pytest.skip("SMB is not installed here: run `genie roms install`")
    return INSTALLED_SMB_ROM.read_bytes()


def _hero_rom() -> bytes:
    import ale_py.roms

    return (Path(ale_py.roms.__file__).parent / "hero.bin").read_bytes()


def _snapshot(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in sorted(root.rglob("*")) if p.is_file()}


def _lines(out: str) -> dict[str, str]:
    """Output lines of ``genie roms import`` keyed by the name of the file each one is about."""
    result = {}
    for line in out.splitlines():
        path = line.split("<- ", 1)[1] if "<- " in line else line.split(maxsplit=1)[-1].split(": ", 1)[0]
        result[Path(path).name] = line
    return result


def test_import_matches_real_roms_and_explains_every_skipped_file(
    isolated_home: Path, tmp_path: Path, smb_rom: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    mine = tmp_path / "my roms"
    (mine / "atari").mkdir(parents=True)
    (mine / "Super Mario (my copy).NES").write_bytes(smb_rom)
    (mine / "atari" / "H.E.R.O.a26").write_bytes(_hero_rom())
    (mine / "notes.txt").write_text("my ROM list")
    (mine / "homebrew.nes").write_bytes(smb_rom[:16] + bytes(range(256)) * 64)  # an iNES file no integration knows
    (mine / "broken.zip").write_bytes(b"PK\x03\x04 not really a zip")
    (mine / "gone.sfc").symlink_to(tmp_path / "nowhere.sfc")
    (mine / ".hidden.nes").write_bytes(smb_rom)
    before = _snapshot(SHIPPED_SMB_DIR)

    assert main(["roms", "import", str(mine)]) == 0
    out = capsys.readouterr().out
    lines = _lines(out)
    assert lines["Super Mario (my copy).NES"].startswith("imported") and "SuperMarioBros-Nes-v0 (GenieRetro-SMB-v0)" \
        in lines["Super Mario (my copy).NES"]
    assert lines["H.E.R.O.a26"].startswith("imported") and "Hero-Atari2600-v0 (GenieRetro-Hero-v0)" in out
    assert "not a ROM file extension (.txt" in lines["notes.txt"]
    assert "unknown hash: SHA-1" in lines["homebrew.nes"] and "iNES header" in lines["homebrew.nes"]
    assert "unreadable zip file" in lines["broken.zip"]
    assert "no such file" in lines["gone.sfc"]
    assert ".hidden.nes" not in out
    assert "2 imported, 0 already installed, 4 skipped" in out

    integrations = isolated_home / "integrations"
    assert (integrations / roms.SMB_GAME / "rom.nes").read_bytes() == smb_rom
    assert (integrations / roms.SMB_GAME / "Level2-1.state").exists(), "the integration folder came with it"
    assert (integrations / "Hero-Atari2600-v0" / "rom.a26").read_bytes() == _hero_rom()
    assert _snapshot(SHIPPED_SMB_DIR) == before and not (SHIPPED_SMB_DIR / "rom.nes").exists(), \
        "site-packages untouched"
    assert not any(p.name.endswith(".tmp") for p in integrations.rglob("*")), "no half-written files"

    # the imported games play, from any start state
    from genie_gym.envs.retro_env import GenieRetroEnv

    assert roms.rom_status(roms.SMB_GAME).playable and roms.rom_status("Hero-Atari2600-v0").playable
    env = GenieRetroEnv("SMB", state="Level3-1")
    try:
        _, info = env.reset(seed=0)
        assert info["levelHi"] == 2
        obs, *_ = env.step(0)
        assert obs.shape == (64, 64, 3) and obs.dtype == np.uint8
    finally:
        env.close()

    # importing again rewrites nothing
    written = _snapshot(integrations)
    assert main(["roms", "import", str(mine)]) == 0
    again = capsys.readouterr().out
    assert "0 imported, 2 already installed, 4 skipped" in again
    assert _snapshot(integrations) == written


def test_import_reads_roms_inside_zip_files_and_reports_duplicates(
    isolated_home: Path, tmp_path: Path, smb_rom: bytes
) -> None:
    mine = tmp_path / "zipped"
    mine.mkdir()
    with zipfile.ZipFile(mine / "collection.zip", "w") as zf:
        zf.writestr("nes/smb.nes", smb_rom)
        zf.writestr("readme.txt", "hello")
    (mine / "smb-again.nes").write_bytes(smb_rom)
    results = {r.source.removeprefix(f"{mine}/"): r for r in roms.import_roms([mine])}
    assert results["collection.zip:nes/smb.nes"].status == "imported"
    assert results["collection.zip:nes/smb.nes"].game == roms.SMB_GAME
    assert results["collection.zip:readme.txt"].status == "skipped"
    duplicate = results["smb-again.nes"]
    assert duplicate.status == "skipped" and duplicate.game == roms.SMB_GAME and "the same ROM as" in duplicate.reason
    assert (isolated_home / "integrations" / roms.SMB_GAME / "rom.nes").read_bytes() == smb_rom


def test_import_of_junk_only_fails_and_a_missing_folder_is_one_clear_error(
    isolated_home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "random.md").write_bytes(os.urandom(4096))  # a Genesis extension, random bytes
    (junk / "empty.gb").write_bytes(b"")
    with open(junk / "huge.sfc", "wb") as f:  # sparse: no disk used
        f.truncate(40 * 2**20)
    assert main(["roms", "import", str(junk)]) == 1
    out = capsys.readouterr().out
    assert out.count("unknown hash") == 2 and "no file matched" in out
    assert "huge.sfc: too big for a ROM (40 MiB" in out
    assert not (isolated_home / "integrations" / "Airstriker-Genesis-v0").exists()

    assert main(["roms", "import", str(tmp_path / "missing")]) == 1
    error = capsys.readouterr().err.strip()
    assert "missing does not exist" in error and "\n" not in error


def test_roms_list_says_what_to_do_for_each_game(isolated_home: Path, tmp_path: Path, smb_rom: bytes,
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["roms", "list"]) == 0
    out = capsys.readouterr().out
    smb_line = next(line for line in out.splitlines() if line.startswith("GenieRetro-SMB-v0"))
    assert " no " in smb_line and "genie roms install" in smb_line
    assert "genie roms list --all" in out and "genie roms import DIR" in out

    assert main(["roms", "list", "--all"]) == 0
    out = capsys.readouterr().out
    nes_1942 = next(line for line in out.splitlines() if line.startswith("GenieRetro-1942-Nes-v0"))
    assert " no " in nes_1942 and "genie roms import DIR" in nes_1942 and "SHA-1 " in nes_1942

    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "smb.nes").write_bytes(smb_rom)
    assert main(["roms", "import", str(tmp_path / "mine")]) == 0
    capsys.readouterr()
    assert main(["roms", "list"]) == 0
    smb_line = next(line for line in capsys.readouterr().out.splitlines() if line.startswith("GenieRetro-SMB-v0"))
    assert smb_line.split()[2:4] == ["yes", "12"], "playable, with its 12 start states"
