"""The ``.npz`` interchange file: import it into an episode store, export a store to it.

Format (docs/DESIGN.md §3.4): ``frames`` uint8 ``(E, T, 64, 64, 3)`` and ``actions`` int64 ``(E, T-1)``, with
``actions[e, t]`` applied at ``frames[e, t]`` producing ``frames[e, t+1]``. All episodes of a file share one length
``T``, so export cuts every episode to a common length: the shortest selected episode by default, or ``length``
(episodes shorter than ``length`` are left out). Import is idempotent (an episode already imported from the same
file is skipped). Import then export of the same episodes is exact.
"""

from __future__ import annotations

import os
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from genie_gym.atomic import atomic_path
from genie_gym.conventions import FRAME_SHAPE, FRAME_SKIP, NUM_ACTIONS
from genie_gym.data.store import (
    CorruptEpisodeError,
    EpisodeRef,
    EpisodeStore,
    array_sha256,
    check_episode,
    check_game_name,
    load_episode,
)
from genie_gym.games import UnknownGameError, get_game, load_games

FORMAT_HINT = "an interchange file holds frames uint8 (E, T, 64, 64, 3) and actions int64 (E, T-1)"
NPY_MAGIC = b"\x93NUMPY"  # the first bytes of a .npy file
ZIP_MAGIC = b"PK"  # of a zip archive, which an .npz is


def validate_interchange(frames: Any, actions: Any, source: str = "interchange data") -> tuple[np.ndarray, np.ndarray]:
    """Check interchange arrays and return them; raise one ``ValueError`` naming the problem.

    Args:
        frames: uint8 ``(E, T, 64, 64, 3)``, ``E >= 1``, ``T >= 1``.
        actions: int64 ``(E, T-1)`` with values in ``[0, 5)``.
        source: what to call the data in messages (e.g. the file name).
    """
    frames = np.asarray(frames)
    actions = np.asarray(actions)
    if frames.dtype != np.uint8:
        raise ValueError(f"{source}: frames must be uint8, got {frames.dtype} ({FORMAT_HINT})")
    if frames.ndim != 5 or frames.shape[2:] != FRAME_SHAPE or frames.shape[0] < 1 or frames.shape[1] < 1:
        raise ValueError(f"{source}: frames must have shape (E, T, 64, 64, 3) with E, T >= 1, got {frames.shape}")
    episodes, length = frames.shape[:2]
    if actions.dtype != np.int64:
        raise ValueError(
            f"{source}: actions must be int64, got {actions.dtype} (convert with actions.astype(np.int64))"
        )
    if actions.ndim != 2 or actions.shape[0] != episodes:
        raise ValueError(
            f"{source}: actions must have shape (E, T-1) = ({episodes}, {length - 1}), got {actions.shape}"
        )
    if actions.shape[1] != length - 1:
        raise ValueError(
            f"{source}: actions are misaligned with frames: {actions.shape[1]} actions per episode for {length} "
            f"frames; expected T-1 = {length - 1} "
            "(actions[e, t] is applied at frames[e, t] and produces frames[e, t+1])"
        )
    if actions.size and (actions.min() < 0 or actions.max() >= NUM_ACTIONS):
        raise ValueError(
            f"{source}: actions must lie in [0, {NUM_ACTIONS}) (RIGHT, LEFT, UP, DOWN, JUMP), "
            f"got values in [{actions.min()}, {actions.max()}]"
        )
    return frames, actions


def read_npz(path: os.PathLike | str) -> tuple[np.ndarray, np.ndarray]:
    """Read and validate an interchange file; returns ``(frames (E,T,64,64,3) uint8, actions (E,T-1) int64)``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no interchange file {path}")
    try:
        with open(path, "rb") as file:
            magic = file.read(len(NPY_MAGIC))
    except OSError as exc:
        raise ValueError(f"{path} cannot be read ({exc.strerror}); {FORMAT_HINT}") from None
    if magic == NPY_MAGIC:
        raise ValueError(f"{path} is a single .npy array, not an .npz archive; {FORMAT_HINT}")
    if not magic.startswith(ZIP_MAGIC):  # text, pickles, images: numpy would only talk about allow_pickle
        raise ValueError(f"{path} is not a readable .npz file: expected a NumPy .npz archive, as "
                         f"np.savez(FILE, frames=..., actions=...) writes; {FORMAT_HINT}")
    try:
        archive = np.load(path, allow_pickle=False)
    except (OSError, ValueError, zipfile.BadZipFile) as exc:
        raise ValueError(f"{path} is not a readable .npz file ({exc}); {FORMAT_HINT}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise ValueError(f"{path} is a single .npy array, not an .npz archive; {FORMAT_HINT}")
    with archive:
        missing = [key for key in ("frames", "actions") if key not in archive.files]
        if missing:
            raise ValueError(f"{path} lacks key(s) {missing} (it has {archive.files}); {FORMAT_HINT}")
        try:
            frames = archive["frames"]
            actions = archive["actions"]
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise ValueError(f"{path}: cannot read its arrays ({exc}); {FORMAT_HINT}") from exc
    return validate_interchange(frames, actions, source=str(path))


def canonical_game_name(game: str) -> str:
    """The annotated short name for ``game`` (``smb`` or ``SuperMarioBros-Nes-v0`` → ``SMB``); raises one
    ``ValueError`` listing the annotated games for any other name."""
    try:
        return get_game(game).name
    except UnknownGameError:
        check_game_name(game)  # a name that could not even be a store directory says so
        known = ", ".join(g.name for g in load_games() if g.verified)
        raise ValueError(f"unknown game {game!r} for the imported episodes: pass an annotated game by short name "
                         f"or stable-retro name (checked ones: {known}; `genie roms list --all` lists all)") from None


@dataclass(frozen=True)
class ImportSummary:
    """What :func:`import_npz` did: ``refs`` holds the store episode of every file episode, in file order;
    ``imported`` were written now, ``skipped`` were already in the store from an earlier import of the same file."""

    refs: list[EpisodeRef]
    imported: int
    skipped: int


def import_npz(
    npz_path: os.PathLike | str,
    store_dir: os.PathLike | str,
    game: str,
    agent: str = "import",
    frame_skip: int | None = FRAME_SKIP,
) -> ImportSummary:
    """Add every episode of an interchange file to a store as new episodes of ``game`` (an annotated game).

    New episodes get the indices after the largest one already in ``<store>/<game>``, in file order; each is written
    atomically, and the whole file is validated before anything is written. Importing is resumable and idempotent:
    an episode already imported from a file of the same name with identical arrays (same sha256) is not written
    again. ``agent`` and ``frame_skip`` are recorded in ``meta.json`` (``frame_skip=None`` when unknown).
    """
    game = canonical_game_name(game)
    frames, actions = read_npz(npz_path)
    source = Path(npz_path).name
    store = EpisodeStore(store_dir)
    previous: dict[tuple[int, str, str], EpisodeRef] = {}
    for ref in store.refs(game):
        try:
            meta = check_episode(ref)
        except CorruptEpisodeError:
            continue
        if meta.get("source") == source and isinstance(meta.get("source_episode"), int):
            key = (meta["source_episode"], meta.get("frames_sha256", ""), meta.get("actions_sha256", ""))
            previous[key] = ref
    next_index = store.next_index(game)
    refs = []
    imported = 0
    for e in range(frames.shape[0]):
        key = (e, array_sha256(frames[e]), array_sha256(actions[e]))
        if key in previous:
            refs.append(previous[key])
            continue
        meta = {
            "agent": agent,
            "source": source,
            "source_episode": e,
            "frame_skip": frame_skip,
            "seed": None,
            "terminated": None,
            "truncated": None,
        }
        refs.append(store.write(game, next_index, frames[e], actions[e], meta))
        next_index += 1
        imported += 1
    return ImportSummary(refs, imported, len(refs) - imported)


@dataclass(frozen=True)
class ExportSummary:
    """What :func:`export_npz` wrote: ``episodes`` of ``length`` frames to ``path``; ``skipped`` were too short."""

    path: Path
    episodes: int
    length: int
    skipped: int


def export_npz(
    store_dir: os.PathLike | str,
    out_path: os.PathLike | str,
    split: str = "all",
    games: str | list[str] | None = None,
    length: int | None = None,
    compress: bool = False,
) -> ExportSummary:
    """Write the store's episodes (sorted by game, then index) to an interchange file, atomically.

    Every episode is cut to ``length`` frames (and ``length - 1`` actions); by default ``length`` is the shortest
    selected episode. Episodes shorter than ``length`` are left out (counted in ``skipped``). Corrupt episodes are
    skipped with a warning. ``compress=True`` uses ``np.savez_compressed`` (smaller, slower).
    """
    store = EpisodeStore(store_dir)
    if not store.root.is_dir():
        raise FileNotFoundError(f"no episode store at {store.root}")
    refs, lengths = [], []
    for ref in store.refs(games, split):
        try:
            lengths.append(check_episode(ref)["length"])
            refs.append(ref)
        except CorruptEpisodeError as exc:
            warnings.warn(f"export skips {ref}: {exc}", stacklevel=2)
    if not refs:
        raise ValueError(f"no episodes to export from {store.root} (split={split!r}, games={games})")
    if length is None:
        length = min(lengths)
    if length < 1:
        raise ValueError(f"length must be >= 1, got {length}")
    keep = [(ref, n) for ref, n in zip(refs, lengths, strict=True) if n >= length]
    if not keep:
        raise ValueError(f"no episode has {length} frames (the longest has {max(lengths)}); use a smaller --length")
    frames = np.empty((len(keep), length, *FRAME_SHAPE), dtype=np.uint8)
    actions = np.empty((len(keep), length - 1), dtype=np.int64)
    for e, (ref, _) in enumerate(keep):
        episode = load_episode(ref, mmap=True)
        frames[e] = episode.frames[:length]
        actions[e] = episode.actions[: length - 1]
        del episode
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    save = np.savez_compressed if compress else np.savez
    with atomic_path(out_path, fsync=True) as tmp, open(tmp, "wb") as f:
        save(f, frames=frames, actions=actions)
    return ExportSummary(out_path, len(keep), int(length), len(refs) - len(keep))
