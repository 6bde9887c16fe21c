"""Per-episode arrays computed once by a frozen model and cached next to the episode store; a dataset over them.

The dynamics model trains on token ids, not frames. Encoding every training clip with the tokenizer on every step
would spend most of the CPU on the (frozen) tokenizer, so each episode is encoded once::

    <store>/.tokens/<fingerprint>/<game>/ep_XXXXXX.npy           int16/int32 (T, h, w)   tokenizer ids
    <store>/.latent_actions/<fingerprint>/<game>/ep_XXXXXX.npy   int16 (T-1,)            LAM codes (genie-redux)
    <store>/.tokens/<fingerprint>/cache.json                     which checkpoint made them

``<fingerprint>`` hashes the model checkpoint (its weights checksum and config) and the encoding settings, so a
different or retrained model gets a new directory and never reuses stale arrays; the same checkpoint reuses them.
Each file is written to a temporary name and renamed, so an interrupted build leaves only complete files and the
next build computes just the missing episodes (a file whose length no longer matches its episode is recomputed).
The store's listing ignores these hidden directories.

Temporal context: the tokenizer is causal in time, so an id depends on the earlier frames of the clip it was
encoded in. Episodes are encoded in consecutive ``chunk``-frame clips (16, the training clip length), frame 0 of
each clip without context, exactly as the tokenizer saw clips in training. LAM actions are inferred on
``chunk``-frame clips overlapping by one frame, so every transition ``t -> t+1`` is inside one clip.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections import OrderedDict
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from genie_gym.atomic import atomic_path, file_sha256
from genie_gym.data.mix import link_or_copy
from genie_gym.data.store import EpisodeRef
from genie_gym.data.window_dataset import WindowDataset
from genie_gym.trainers.distributed import DistributedContext, barrier

CACHE_FORMAT_VERSION = 1
DEFAULT_CHUNK = 16
ClipFunction = Callable[[torch.Tensor], torch.Tensor]


def model_fingerprint(checkpoint_dir: str | os.PathLike, settings: dict[str, Any] | None = None) -> str:
    """16 hex digits identifying a saved model (weights checksum + config) and the ``settings`` used with it."""
    checkpoint_dir = Path(checkpoint_dir)
    meta = json.loads((checkpoint_dir / "config.json").read_text(encoding="utf-8"))
    weights_sha = meta.get("weights_sha256")
    if not weights_sha:
        weights_sha = file_sha256(checkpoint_dir / meta.get("weights_file", "model.safetensors"))
    payload = {
        "format": CACHE_FORMAT_VERSION,
        "model_kind": meta.get("model_kind"),
        "config": meta.get("config"),
        "weights_sha256": weights_sha,
        "settings": settings or {},
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True).encode()).hexdigest()[:16]


def encode_episode_tokens(frames: np.ndarray, encode: ClipFunction, chunk: int, batch: int = 8) -> np.ndarray:
    """Token ids ``(T, h, w)`` of one episode's uint8 frames ``(T, 64, 64, 3)``, encoded in ``chunk``-frame clips.

    ``encode(clips)`` maps uint8 ``(N, t, 64, 64, 3)`` to ids ``(N, t, h, w)``; up to ``batch`` full clips go in
    one call, a shorter last clip goes alone.
    """
    length = frames.shape[0]
    full = length // chunk
    pieces: list[np.ndarray] = []
    for first in range(0, full, batch):
        count = min(batch, full - first)
        clips = np.array(frames[first * chunk : (first + count) * chunk]).reshape(count, chunk, *frames.shape[1:])
        ids = encode(torch.from_numpy(clips))
        pieces.append(ids.reshape(count * chunk, *ids.shape[2:]).cpu().numpy())
    if full * chunk < length:
        tail = np.array(frames[full * chunk :])[None]
        pieces.append(encode(torch.from_numpy(tail))[0].cpu().numpy())
    return np.concatenate(pieces)


def infer_episode_actions(frames: np.ndarray, infer: ClipFunction, chunk: int, batch: int = 8) -> np.ndarray:
    """Latent actions ``(T-1,)`` of one episode's frames ``(T, 64, 64, 3)``.

    ``infer(clips)`` maps uint8 ``(N, t, 64, 64, 3)`` to actions ``(N, t-1)``; clips of ``chunk`` frames overlap by
    one frame so that transition ``t -> t+1`` is labelled from a clip that contains both frames.
    """
    length = frames.shape[0]
    step = chunk - 1
    starts = list(range(0, length - 1, step))
    full = [s for s in starts if s + chunk <= length]
    pieces: list[np.ndarray] = []
    for first in range(0, len(full), batch):
        group = full[first : first + batch]
        clips = np.stack([np.asarray(frames[s : s + chunk]) for s in group])
        pieces.append(infer(torch.from_numpy(clips)).reshape(-1).cpu().numpy())
    rest = [s for s in starts if s + chunk > length]
    if rest:
        tail = np.array(frames[rest[0] :])[None]
        pieces.append(infer(torch.from_numpy(tail)).reshape(-1).cpu().numpy())
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.int64)


def _compact(array: np.ndarray) -> np.ndarray:
    """Integer ids as int16 when they fit, else int32."""
    small = array.size == 0 or (array.min() >= np.iinfo(np.int16).min and array.max() <= np.iinfo(np.int16).max)
    return array.astype(np.int16 if small else np.int32)


class EpisodeArrayCache:
    """One cache directory: a ``.npy`` array per episode, computed by one model (see the module docstring).

    Args:
        store_dir: the episode store.
        kind: ``"tokens"`` or ``"latent_actions"`` (the hidden sub-directory ``.<kind>`` of the store).
        fingerprint: :func:`model_fingerprint` of the model and settings that compute the arrays.
        description: JSON-ready provenance written to ``cache.json``.
    """

    def __init__(
        self, store_dir: str | os.PathLike, kind: str, fingerprint: str, description: dict[str, Any] | None = None
    ) -> None:
        self.root = Path(store_dir) / f".{kind}" / fingerprint
        self.kind = kind
        self.fingerprint = fingerprint
        self.description = description or {}

    def path(self, ref: EpisodeRef) -> Path:
        """``<root>/<game>/ep_XXXXXX.npy``."""
        return self.root / ref.game / f"{ref.path.name}.npy"

    def has(self, ref: EpisodeRef, length: int) -> bool:
        """True when the array of ``ref`` exists with ``length`` rows."""
        path = self.path(ref)
        if not path.is_file():
            return False
        try:
            return np.load(path, mmap_mode="r").shape[0] == length
        except (OSError, ValueError):
            return False

    def missing(self, refs: Sequence[EpisodeRef], lengths: Sequence[int]) -> list[int]:
        """Positions in ``refs`` whose array is absent or stale."""
        return [i for i, (ref, length) in enumerate(zip(refs, lengths, strict=True)) if not self.has(ref, length)]

    def write(self, ref: EpisodeRef, array: np.ndarray) -> Path:
        """Write the array of ``ref`` atomically (temporary file + rename); returns its path."""
        path = self.path(ref)
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path, fsync=True) as tmp, open(tmp, "wb") as handle:
            np.save(handle, _compact(np.asarray(array)), allow_pickle=False)
        return path

    def load(self, ref: EpisodeRef) -> np.ndarray:
        """The cached array of ``ref``, memory-mapped (read-only)."""
        return np.load(self.path(ref), mmap_mode="r", allow_pickle=False)

    def build(
        self,
        refs: Sequence[EpisodeRef],
        lengths: Sequence[int],
        compute: Callable[[np.ndarray], np.ndarray],
        expected_rows: Callable[[int], int] = lambda length: length,
        ctx: DistributedContext | None = None,
        progress: bool = True,
    ) -> int:
        """Compute and write the arrays of the episodes that lack one; returns how many this process computed
        (an episode linked under several names in a mixed store is computed once; its other names are linked).

        ``compute(frames)`` maps an episode's uint8 frames ``(T, 64, 64, 3)`` to its array, which must have
        ``expected_rows(T)`` rows. Under DDP every rank computes a disjoint share, then all ranks wait for each other.
        """
        ctx = ctx or DistributedContext()
        rows = [expected_rows(int(n)) for n in lengths]
        missing = self.missing(refs, rows)
        # A mixed store links the same episode directory several times (``genie data mix A:3``): each episode on disk
        # is computed once, and its other names get a link to that array (or to one already cached).
        groups: dict[Path, list[int]] = {}
        for position in missing:
            groups.setdefault(refs[position].path.resolve(), []).append(position)
        cached: dict[Path, Path] = {}
        if groups:
            missing_set = set(missing)
            for position, ref in enumerate(refs):
                if position not in missing_set and (source := ref.path.resolve()) in groups:
                    cached.setdefault(source, self.path(ref))
        todo = list(groups.items())[ctx.rank :: ctx.world_size]
        if missing and ctx.is_main:
            self.root.mkdir(parents=True, exist_ok=True)
            info = {"kind": self.kind, "fingerprint": self.fingerprint, "format": CACHE_FORMAT_VERSION}
            (self.root / "cache.json").write_text(json.dumps({**info, **self.description}, indent=2) + "\n")
        bar = tqdm(todo, desc=f"caching {self.kind}", unit="ep", disable=not (progress and ctx.is_main and todo))
        computed = 0
        for source, positions in bar:
            if source in cached:
                written = cached[source]
            else:
                ref, expected = refs[positions[0]], rows[positions[0]]
                frames = np.load(ref.frames_path, mmap_mode="r", allow_pickle=False)
                array = compute(frames)
                if array.shape[0] != expected:
                    raise RuntimeError(f"{self.kind} of {ref} have {array.shape[0]} rows, expected {expected}")
                written = self.write(ref, array)
                positions = positions[1:]
                computed += 1
            for position in positions:
                self._link(written, self.path(refs[position]))
        bar.close()
        barrier(ctx)
        still_missing = self.missing(refs, rows)
        if still_missing:
            raise RuntimeError(f"{len(still_missing)} {self.kind} arrays are missing in {self.root} after caching")
        return computed

    @staticmethod
    def _link(existing: Path, path: Path) -> None:
        """Make ``path`` a hard link to (or, across file systems, a copy of) ``existing``, atomically."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            link_or_copy(existing, tmp)


class TokenWindowDataset(Dataset):
    """The windows of a :class:`WindowDataset`, as cached token ids instead of frames.

    Item ``i`` covers the same ``(episode, start)`` as ``windows[i]``: ``{"tokens": int64 (window, h, w),
    "actions": int64 (window - 1,), "game_index": int}``. ``actions`` are the recorded actions, or, with
    ``latent_actions``, the cached LAM codes of the same transitions.
    """

    def __init__(
        self,
        windows: WindowDataset,
        tokens: EpisodeArrayCache,
        latent_actions: EpisodeArrayCache | None = None,
        max_open_episodes: int = 128,
    ) -> None:
        self.windows = windows
        self.tokens = tokens
        self.latent_actions = latent_actions
        self.max_open_episodes = max_open_episodes
        self._open: OrderedDict[EpisodeRef, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._pid = os.getpid()

    def __len__(self) -> int:
        return len(self.windows)

    def _arrays(self, ref: EpisodeRef) -> tuple[np.ndarray, np.ndarray]:
        if self._pid != os.getpid():  # a DataLoader worker opens its own maps
            self._open, self._pid = OrderedDict(), os.getpid()
        if ref in self._open:
            self._open.move_to_end(ref)
            return self._open[ref]
        tokens = self.tokens.load(ref)
        if self.latent_actions is not None:
            actions = np.asarray(self.latent_actions.load(ref))
        else:
            actions = np.load(ref.actions_path, allow_pickle=False)
        self._open[ref] = (tokens, actions)
        if len(self._open) > self.max_open_episodes:
            self._open.popitem(last=False)
        return tokens, actions

    def __getitem__(self, index: int) -> dict[str, Any]:
        ref, start = self.windows.locate(index)
        tokens, actions = self._arrays(ref)
        end = start + self.windows.window
        return {
            "tokens": torch.from_numpy(np.asarray(tokens[start:end], dtype=np.int64)),
            "actions": torch.from_numpy(np.asarray(actions[start : end - 1], dtype=np.int64)),
            "game_index": self.windows.games.index(ref.game),
        }

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_open"] = OrderedDict()
        return state
