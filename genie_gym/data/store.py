"""The episode store: a directory of recorded episodes, one sub-directory per game, written atomically.

Layout (the full specification is ``docs/DATA_FORMAT.md``)::

    <store>/<GAME>/ep_<index:06d>/frames.npy    uint8 (T, 64, 64, 3), uncompressed (memory-mappable)
                                  actions.npy   int64 (T-1,), actions[t] applied at frames[t] gives frames[t+1]
                                  meta.json     provenance, length, checksums, format version
                                  hires.npy     optional: uint8 (T, S, S, 3), the same frames at S x S (256;
                                                ``genie collect --hires``), for training the super-resolution net

An episode directory appears under its final name only when it is complete: it is written into a hidden temporary
directory (``.tmp.ep_...``) in the same game directory, every file and the directory are fsync'ed, and the directory is
renamed. Readers never look at hidden directories, so a killed writer never leaves a half-written visible episode.

The validation split is a pure function of ``(game, episode index)`` plus one fallback rule (see
:func:`validation_indices`), so adding episodes never moves an existing episode between splits.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import os
import re
import secrets
import shutil
import socket
import time
import warnings
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from genie_gym.conventions import FRAME_SHAPE, NUM_ACTIONS, validate_frames

FORMAT_VERSION: int = 1
VAL_FRACTION: float = 0.01
SPLITS: tuple[str, ...] = ("train", "val", "all")
FRAMES_FILE = "frames.npy"
ACTIONS_FILE = "actions.npy"
META_FILE = "meta.json"
HIRES_FILE = "hires.npy"
HIRES_SIZE: int = 256  # the paper's super-resolution output (appendix B); the store accepts any square size > 64
EPISODE_RE = re.compile(r"^ep_(\d{6,})$")
GAME_NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_\-]*$")
TEMP_PREFIX = ".tmp."
STALE_TEMP_AGE_S = 3600.0  # no episode takes an hour to write: an older temp dir is stale whoever made it
REQUIRED_META_KEYS = ("format_version", "game", "length")


class CorruptEpisodeError(ValueError):
    """An episode on disk is unreadable: truncated or missing file, bad JSON, wrong dtype/shape, bad checksum.

    Attributes:
        path: the offending file (or episode directory).
        reason: what is wrong with it.
    """

    def __init__(self, path: os.PathLike | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        episode_dir = self.path if self.path.is_dir() or self.path.name.startswith("ep_") else self.path.parent
        super().__init__(
            f"corrupt episode file {self.path}: {reason}. Delete the episode directory ({episode_dir}) and rerun the "
            "same collection command (same --seed) to re-collect it, or re-import it."
        )


class EpisodeExistsError(FileExistsError):
    """Raised when writing an episode whose final directory already exists (episodes are never overwritten)."""


@dataclass(frozen=True, order=True)
class EpisodeRef:
    """Where one episode lives: ``<root>/<game>/ep_<index:06d>``. Cheap: nothing is read until asked."""

    game: str
    index: int
    root: Path = field(compare=False)

    @property
    def path(self) -> Path:
        """The episode directory."""
        return self.root / self.game / episode_name(self.index)

    @property
    def frames_path(self) -> Path:
        return self.path / FRAMES_FILE

    @property
    def actions_path(self) -> Path:
        return self.path / ACTIONS_FILE

    @property
    def meta_path(self) -> Path:
        return self.path / META_FILE

    @property
    def hires_path(self) -> Path:
        """The optional high-resolution frames (present when ``meta.json`` has ``hires_size``)."""
        return self.path / HIRES_FILE

    def __str__(self) -> str:
        return f"{self.game}/{episode_name(self.index)}"


@dataclass
class Episode:
    """One loaded episode.

    Attributes:
        ref: where it lives.
        frames: uint8 ``(T, 64, 64, 3)`` (a read-only memory map when loaded with ``mmap=True``).
        actions: int64 ``(T-1,)``; ``actions[t]`` applied at ``frames[t]`` produces ``frames[t+1]``.
        meta: the parsed ``meta.json``.
    """

    ref: EpisodeRef
    frames: np.ndarray
    actions: np.ndarray
    meta: dict[str, Any]

    @property
    def length(self) -> int:
        """Number of frames ``T``."""
        return int(self.frames.shape[0])


def episode_name(index: int) -> str:
    """Directory name of episode ``index``: ``ep_000042``."""
    if index < 0:
        raise ValueError(f"episode index must be >= 0, got {index}")
    return f"ep_{index:06d}"


def check_game_name(game: str) -> str:
    """Return ``game`` if it is usable as a store directory name (letters, digits, ``_``, ``-``), else raise."""
    if not GAME_NAME_RE.match(game or ""):
        raise ValueError(f"invalid game name {game!r} for the store: use letters, digits, '_' or '-' (e.g. SMB)")
    return game


# --------------------------------------------------------------------------------------------------------------------
# Validation split
# --------------------------------------------------------------------------------------------------------------------


def split_hash(game: str, index: int) -> float:
    """A stable number in ``[0, 1)`` for ``(game, index)``: the first 8 bytes of ``sha256("<game>:<index>")``."""
    digest = hashlib.sha256(f"{game}:{index}".encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64


def validation_indices(game: str, indices: Iterable[int], fraction: float = VAL_FRACTION) -> set[int]:
    """The validation episodes of one game, given the indices of all its episodes in the store.

    Rule: episode ``i`` is validation if ``split_hash(game, i) < fraction`` (about 1% of episodes), or if it has the
    smallest index of the game while the game has at least 2 episodes (so every game with >= 2 episodes has a
    validation episode). Everything else is training. Appending episodes with larger indices (what collection does)
    never moves an episode between splits; the only moves happen when a game goes from 1 to 2 episodes (its first
    episode becomes validation) or when an episode with a smaller index than all present ones is added.
    """
    indices = sorted(set(indices))
    val = {i for i in indices if split_hash(game, i) < fraction}
    if len(indices) >= 2:
        val.add(indices[0])
    return val


# --------------------------------------------------------------------------------------------------------------------
# Writing
# --------------------------------------------------------------------------------------------------------------------


def _host_tag() -> str:
    return hashlib.sha1(socket.gethostname().encode()).hexdigest()[:8]


def _temp_dir_name(index: int) -> str:
    return f"{TEMP_PREFIX}{episode_name(index)}.{os.getpid()}.{_host_tag()}.{secrets.token_hex(4)}"


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _write_file(path: Path, writer) -> None:
    with open(path, "wb") as f:
        writer(f)
        f.flush()
        os.fsync(f.fileno())


def array_sha256(array: np.ndarray) -> str:
    """sha256 of the raw C-order bytes of ``array`` (not of the ``.npy`` header)."""
    return hashlib.sha256(memoryview(np.ascontiguousarray(array)).cast("B")).hexdigest()


def _as_actions(actions: Any, length: int) -> np.ndarray:
    actions = np.asarray(actions)
    if actions.dtype != np.int64:
        if not np.issubdtype(actions.dtype, np.integer):
            raise ValueError(f"actions must be integers (int64), got dtype {actions.dtype}")
        actions = actions.astype(np.int64)
    if actions.shape != (length - 1,):
        raise ValueError(
            f"actions must have shape (T-1,) = ({length - 1},) for {length} frames (actions[t] is applied at frames[t] "
            f"and produces frames[t+1]); got {actions.shape}"
        )
    if actions.size and (actions.min() < 0 or actions.max() >= NUM_ACTIONS):
        raise ValueError(f"actions must lie in [0, {NUM_ACTIONS}); got values in [{actions.min()}, {actions.max()}]")
    return np.ascontiguousarray(actions)


def _as_hires(hires: Any, length: int) -> np.ndarray:
    """``hires`` checked as uint8 ``(length, S, S, 3)`` with ``S > 64`` (C order)."""
    hires = np.asarray(hires)
    shape = hires.shape
    if (hires.dtype != np.uint8 or hires.ndim != 4 or shape[0] != length or shape[1] != shape[2]
            or shape[3] != 3 or shape[1] <= FRAME_SHAPE[0]):
        raise ValueError(
            f"hires frames must be uint8 (T, S, S, 3) with T = {length} (one per frame) and S > {FRAME_SHAPE[0]}, "
            f"e.g. S = {HIRES_SIZE}; got dtype {hires.dtype} and shape {shape}. Make them with "
            f"genie_gym.conventions.preprocess_frame(full_frame, {HIRES_SIZE})"
        )
    return np.ascontiguousarray(hires)


def write_episode(
    root: os.PathLike | str,
    game: str,
    index: int,
    frames: np.ndarray,
    actions: np.ndarray,
    meta: dict[str, Any] | None = None,
    hires: np.ndarray | None = None,
) -> EpisodeRef:
    """Write one episode atomically and return its reference.

    Args:
        root: the store directory (created if missing).
        game: short game name (the sub-directory), e.g. ``"SMB"``.
        index: episode index within the game.
        frames: uint8 ``(T, 64, 64, 3)``, ``T >= 1``.
        actions: integer ``(T-1,)`` in ``[0, 5)``; stored as int64.
        meta: extra provenance (agent, seed, frame_skip, terminated, truncated, ...); the store adds
            ``format_version, game, index, length, created_at`` and the array checksums.
        hires: optional uint8 ``(T, S, S, 3)``, the same frames made from the emulator's frame at ``S x S`` (256),
            written as ``hires.npy``; ``meta.json`` then records ``hires_size``, ``hires_nbytes`` and
            ``hires_sha256``. Only ``genie collect --hires`` writes it (a 256 frame is 16x the bytes of a 64 one).

    Raises:
        EpisodeExistsError: the episode already exists (episodes are never overwritten; delete it first).
        ValueError: frames or actions have the wrong dtype or shape.
    """
    check_game_name(game)
    frames = validate_frames(frames, "frames")
    if frames.ndim != 4 or frames.shape[0] < 1:
        raise ValueError(f"frames must have shape (T, 64, 64, 3) with T >= 1, got {frames.shape}")
    frames = np.ascontiguousarray(frames)
    actions = _as_actions(actions, frames.shape[0])
    if hires is not None:
        hires = _as_hires(hires, frames.shape[0])
    record: dict[str, Any] = dict(meta or {})
    for key in ("hires_size", "hires_nbytes", "hires_sha256"):  # only this write may claim a hires file
        record.pop(key, None)
    if hires is not None:
        record.update(hires_size=int(hires.shape[1]), hires_nbytes=int(hires.nbytes),
                      hires_sha256=array_sha256(hires))
    record.update(
        format_version=FORMAT_VERSION,
        game=game,
        index=int(index),
        length=int(frames.shape[0]),
        created_at=_dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        frames_nbytes=int(frames.nbytes),
        actions_nbytes=int(actions.nbytes),
        frames_sha256=array_sha256(frames),
        actions_sha256=array_sha256(actions),
    )
    game_dir = Path(root) / game
    game_dir.mkdir(parents=True, exist_ok=True)
    final = game_dir / episode_name(index)
    if final.exists():
        raise EpisodeExistsError(f"episode {final} already exists; delete it first to rewrite it")
    tmp = game_dir / _temp_dir_name(index)
    os.mkdir(tmp)
    try:
        _write_file(tmp / FRAMES_FILE, lambda f: np.save(f, frames, allow_pickle=False))
        _write_file(tmp / ACTIONS_FILE, lambda f: np.save(f, actions, allow_pickle=False))
        if hires is not None:
            _write_file(tmp / HIRES_FILE, lambda f: np.save(f, hires, allow_pickle=False))
        _write_file(tmp / META_FILE, lambda f: f.write(json.dumps(record, indent=2, sort_keys=True).encode() + b"\n"))
        _fsync_path(tmp)
        try:
            os.rename(tmp, final)
        except OSError as exc:
            if final.exists():
                raise EpisodeExistsError(f"episode {final} was written by another process meanwhile") from exc
            raise
        _fsync_path(game_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return EpisodeRef(game, int(index), Path(root))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:  # a zombie (killed, not yet reaped) is dead for our purpose
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        return state not in ("Z", "X")
    except (OSError, IndexError):
        return True


def is_stale_temp_dir(path: Path, max_age_s: float = STALE_TEMP_AGE_S) -> bool:
    """Whether a hidden temporary episode directory was left behind by a writer that is gone.

    Stale when its writer process (pid and host in the name) no longer runs on this host, or when it is older than
    ``max_age_s`` (writing an episode takes well under a second).
    """
    parts = path.name[len(TEMP_PREFIX):].split(".")
    try:
        age = time.time() - path.stat().st_mtime
    except FileNotFoundError:
        return False
    if age > max_age_s:
        return True
    if len(parts) >= 3 and parts[2] == _host_tag() and parts[1].isdigit():
        return not _pid_alive(int(parts[1]))
    return False


# --------------------------------------------------------------------------------------------------------------------
# Reading and checking
# --------------------------------------------------------------------------------------------------------------------


def _read_npy_header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """Return ``(shape, dtype, data_offset)`` of a ``.npy`` file, raising :class:`CorruptEpisodeError`."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            if version == (1, 0):
                shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
            elif version in ((2, 0), (3, 0)):
                shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
            else:
                raise ValueError(f"unsupported .npy version {version}")
            offset = f.tell()
    except FileNotFoundError as exc:
        raise CorruptEpisodeError(path, "file is missing") from exc
    except (OSError, ValueError) as exc:
        raise CorruptEpisodeError(path, f"not a readable .npy file ({exc})") from exc
    if fortran:
        raise CorruptEpisodeError(path, "array is stored in Fortran order; expected C order")
    return tuple(shape), np.dtype(dtype), offset


def _check_npy(path: Path, dtype: np.dtype, shape: tuple[int, ...]) -> int:
    actual_shape, actual_dtype, offset = _read_npy_header(path)
    if actual_dtype != dtype:
        raise CorruptEpisodeError(path, f"dtype is {actual_dtype}, expected {dtype}")
    if actual_shape != shape:
        raise CorruptEpisodeError(path, f"shape is {actual_shape}, expected {shape}")
    expected = offset + int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    size = path.stat().st_size
    if size != expected:
        raise CorruptEpisodeError(path, f"file is truncated or padded: {size} bytes, expected {expected}")
    return offset


def read_meta(path: os.PathLike | str) -> dict[str, Any]:
    """Parse an episode's ``meta.json`` (the file or the episode directory); raise :class:`CorruptEpisodeError`."""
    path = Path(path)
    if path.is_dir():
        path = path / META_FILE
    try:
        meta = json.loads(path.read_text())
    except FileNotFoundError as exc:
        raise CorruptEpisodeError(path, "file is missing") from exc
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptEpisodeError(path, f"not valid JSON ({exc})") from exc
    if not isinstance(meta, dict):
        raise CorruptEpisodeError(path, "expected a JSON object")
    missing = [k for k in REQUIRED_META_KEYS if k not in meta]
    if missing:
        raise CorruptEpisodeError(path, f"missing keys {missing}")
    if not isinstance(meta["length"], int) or meta["length"] < 1:
        raise CorruptEpisodeError(path, f"length must be an integer >= 1, got {meta['length']!r}")
    if not isinstance(meta["format_version"], int) or meta["format_version"] > FORMAT_VERSION:
        raise CorruptEpisodeError(
            path, f"format_version {meta['format_version']!r} is newer than this genie-gym ({FORMAT_VERSION}); "
            "upgrade genie-gym"
        )
    return meta


def check_episode(ref: EpisodeRef, verify: bool = False) -> dict[str, Any]:
    """Check one episode without loading its arrays; return its meta. Raise :class:`CorruptEpisodeError` if bad.

    The cheap check (default) reads ``meta.json`` and both ``.npy`` headers and compares dtypes, shapes
    (frames ``(T, 64, 64, 3)`` with ``T == meta["length"]``, actions ``(T-1,)``) and file sizes (catches
    truncation); an episode whose ``meta.json`` has ``hires_size`` gets the same checks of ``hires.npy``
    ``(T, S, S, 3)``. ``verify=True`` also reads the arrays, compares their sha256 with ``meta.json`` and checks
    that the actions lie in ``[0, 5)``.
    """
    meta = read_meta(ref.meta_path)
    length = meta["length"]
    frames_offset = _check_npy(ref.frames_path, np.dtype(np.uint8), (length, *FRAME_SHAPE))
    actions_offset = _check_npy(ref.actions_path, np.dtype(np.int64), (length - 1,))
    hires_shape = _hires_shape(ref, meta)
    hires_offset = None if hires_shape is None else _check_npy(ref.hires_path, np.dtype(np.uint8), hires_shape)
    if verify:
        frames = np.memmap(ref.frames_path, np.uint8, "r", offset=frames_offset, shape=(length, *FRAME_SHAPE))
        _verify_sha256(ref.frames_path, frames, meta.get("frames_sha256"))
        del frames
        actions = (np.memmap(ref.actions_path, np.int64, "r", offset=actions_offset, shape=(length - 1,))
                   if length > 1 else np.zeros(0, np.int64))
        _verify_sha256(ref.actions_path, actions, meta.get("actions_sha256"))
        if actions.size and (actions.min() < 0 or actions.max() >= NUM_ACTIONS):
            raise CorruptEpisodeError(ref.actions_path, f"actions outside [0, {NUM_ACTIONS})")
        del actions
        if hires_shape is not None:
            hires = np.memmap(ref.hires_path, np.uint8, "r", offset=hires_offset, shape=hires_shape)
            _verify_sha256(ref.hires_path, hires, meta.get("hires_sha256"))
            del hires
    return meta


def _hires_shape(ref: EpisodeRef, meta: dict[str, Any]) -> tuple[int, ...] | None:
    """The shape ``hires.npy`` must have by ``meta.json`` (``None``: the episode has no hires frames)."""
    size = meta.get("hires_size")
    if size is None:
        return None
    if not isinstance(size, int) or size <= FRAME_SHAPE[0]:
        raise CorruptEpisodeError(ref.meta_path, f"hires_size must be an integer > {FRAME_SHAPE[0]}, got {size!r}")
    return (meta["length"], size, size, 3)


def load_hires(ref: EpisodeRef, mmap: bool = True) -> np.ndarray | None:
    """The episode's high-resolution frames, uint8 ``(T, S, S, 3)`` (a read-only memory map by default), checked
    as in :func:`check_episode`; ``None`` when it was collected without ``--hires``."""
    meta = check_episode(ref)
    if _hires_shape(ref, meta) is None:
        return None
    try:
        return np.load(ref.hires_path, mmap_mode="r" if mmap else None, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CorruptEpisodeError(ref.hires_path, f"cannot load the array ({exc})") from exc


def _verify_sha256(path: Path, array: np.ndarray, expected: str | None) -> None:
    if expected is not None and array_sha256(array) != expected:
        raise CorruptEpisodeError(path, "sha256 mismatch with meta.json (the data changed after it was written)")


def load_episode(ref: EpisodeRef, mmap: bool = False, verify: bool = False) -> Episode:
    """Load one episode (checked as in :func:`check_episode`); ``mmap=True`` memory-maps the arrays read-only."""
    meta = check_episode(ref, verify=verify)
    mode = "r" if mmap else None
    try:
        frames = np.load(ref.frames_path, mmap_mode=mode, allow_pickle=False)
        actions = np.load(ref.actions_path, mmap_mode=mode, allow_pickle=False)
    except (OSError, ValueError) as exc:
        raise CorruptEpisodeError(ref.path, f"cannot load arrays ({exc})") from exc
    return Episode(ref, frames, actions, meta)


class EpisodeStore:
    """A store directory: list, split, check, load and write episodes.

    Args:
        root: the store directory. It need not exist yet (an empty store).

    Listing only looks at directory names (``<GAME>/ep_NNNNNN``); hidden temporary directories are ignored.
    """

    def __init__(self, root: os.PathLike | str) -> None:
        self.root = Path(root)
        if self.root.exists() and not self.root.is_dir():
            raise NotADirectoryError(f"{self.root} is not a directory; an episode store is a directory")

    def __repr__(self) -> str:
        return f"EpisodeStore({str(self.root)!r})"

    def games(self) -> list[str]:
        """Names of the game sub-directories, sorted."""
        if not self.root.is_dir():
            return []
        return sorted(p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith("."))

    def indices(self, game: str) -> list[int]:
        """Sorted indices of the complete (visible) episodes of ``game``."""
        game_dir = self.root / game
        if not game_dir.is_dir():
            return []
        found = []
        for entry in os.scandir(game_dir):
            match = EPISODE_RE.match(entry.name)
            if match and entry.is_dir():
                found.append(int(match.group(1)))
        return sorted(found)

    def ref(self, game: str, index: int) -> EpisodeRef:
        """Reference to episode ``index`` of ``game`` (whether or not it exists)."""
        return EpisodeRef(game, int(index), self.root)

    def refs(self, games: str | Iterable[str] | None = None, split: str = "all") -> list[EpisodeRef]:
        """Episodes of ``games`` (all games if None) in ``split`` (``train``, ``val`` or ``all``), sorted.

        Nothing is checked: see :meth:`episodes` for a listing that skips corrupt episodes.
        """
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        result = []
        for game in self._select_games(games):
            indices = self.indices(game)
            val = validation_indices(game, indices) if split != "all" else set()
            for index in indices:
                if split == "all" or (index in val) == (split == "val"):
                    result.append(self.ref(game, index))
        return result

    def episodes(
        self, games: str | Iterable[str] | None = None, split: str = "all", validate: bool = True, verify: bool = False
    ) -> list[EpisodeRef]:
        """Like :meth:`refs`; with ``validate=True`` each episode gets the cheap check and corrupt ones are skipped
        with a warning (``verify=True``: the full checksum check)."""
        refs = self.refs(games, split)
        if not validate:
            return refs
        good = []
        for ref in refs:
            try:
                check_episode(ref, verify=verify)
            except CorruptEpisodeError as exc:
                warnings.warn(f"skipping {ref}: {exc}", stacklevel=2)
                continue
            good.append(ref)
        return good

    def bad_episodes(
        self, games: str | Iterable[str] | None = None, verify: bool = False
    ) -> list[tuple[EpisodeRef, CorruptEpisodeError]]:
        """Every corrupt episode with its error."""
        bad = []
        for ref in self.refs(games):
            try:
                check_episode(ref, verify=verify)
            except CorruptEpisodeError as exc:
                bad.append((ref, exc))
        return bad

    def split_of(self, ref: EpisodeRef) -> str:
        """``"val"`` or ``"train"`` for an episode of this store."""
        return "val" if ref.index in validation_indices(ref.game, self.indices(ref.game)) else "train"

    def load(self, ref: EpisodeRef | tuple[str, int], mmap: bool = False, verify: bool = False) -> Episode:
        """Load an episode by reference or ``(game, index)``; raises :class:`CorruptEpisodeError` naming the file."""
        if not isinstance(ref, EpisodeRef):
            ref = self.ref(*ref)
        if not ref.path.is_dir():
            raise FileNotFoundError(f"no episode {ref.path}")
        return load_episode(ref, mmap=mmap, verify=verify)

    def iter_episodes(
        self, games: str | Iterable[str] | None = None, split: str = "all", mmap: bool = True
    ) -> Iterator[Episode]:
        """Load the episodes one by one (memory-mapped by default), skipping corrupt ones with a warning."""
        for ref in self.refs(games, split):
            try:
                yield load_episode(ref, mmap=mmap)
            except CorruptEpisodeError as exc:
                warnings.warn(f"skipping {ref}: {exc}", stacklevel=2)

    def write(
        self, game: str, index: int, frames: np.ndarray, actions: np.ndarray, meta: dict[str, Any] | None = None,
        hires: np.ndarray | None = None,
    ) -> EpisodeRef:
        """Write an episode atomically (see :func:`write_episode`)."""
        return write_episode(self.root, game, index, frames, actions, meta, hires=hires)

    def next_index(self, game: str) -> int:
        """One past the largest episode index of ``game`` (0 for a new game)."""
        indices = self.indices(game)
        return indices[-1] + 1 if indices else 0

    def temp_dirs(self, game: str | None = None) -> list[Path]:
        """Hidden temporary episode directories (in-progress or left behind by killed writers)."""
        games = [game] if game is not None else self.games()
        found = []
        for name in games:
            game_dir = self.root / name
            if game_dir.is_dir():
                found.extend(p for p in game_dir.iterdir() if p.name.startswith(TEMP_PREFIX) and p.is_dir())
        return sorted(found)

    def remove_stale_temp_dirs(self, game: str | None = None) -> list[Path]:
        """Delete temporary directories whose writer is gone (see :func:`is_stale_temp_dir`); return them."""
        removed = []
        for path in self.temp_dirs(game):
            if is_stale_temp_dir(path):
                shutil.rmtree(path, ignore_errors=True)
                removed.append(path)
        return removed

    def disk_bytes(self, game: str | None = None) -> int:
        """Bytes used by the visible episodes of ``game`` (or of the whole store)."""
        total = 0
        for ref in self.refs(game):
            for path in (ref.frames_path, ref.actions_path, ref.meta_path, ref.hires_path):
                try:
                    total += path.stat().st_size
                except FileNotFoundError:
                    pass
        return total

    def _select_games(self, games: str | Iterable[str] | None) -> list[str]:
        if games is None:
            return self.games()
        if isinstance(games, str):
            games = [games]
        return list(games)
