"""``WindowDataset``: fixed-length windows of consecutive frames (and their actions) from an episode store.

Item ``i`` is one window start of one episode; ``len(dataset)`` counts every valid start (every ``stride``-th
frame with ``start + window <= T``). Episodes shorter than ``window`` frames are skipped. Random-window training:
``DataLoader(dataset, sampler=RandomWindowSampler(dataset, num_samples, seed))`` draws window starts uniformly
over all valid starts (longer episodes are drawn proportionally more often), or use ``shuffle=True``.

Episodes are memory-mapped lazily and per process (a small LRU of open maps), so the dataset is safe with
``DataLoader(num_workers=...)`` under both fork and spawn: maps opened in the parent are never reused by a worker.
"""

from __future__ import annotations

import os
import warnings
from collections import OrderedDict
from collections.abc import Iterable, Iterator

import numpy as np
import torch
from torch.utils.data import Dataset, Sampler

from genie_gym.data.store import CorruptEpisodeError, EpisodeRef, EpisodeStore, check_episode


class WindowDataset(Dataset):
    """Windows of ``window`` consecutive frames with their ``window - 1`` actions.

    Args:
        store_dir: the episode store directory.
        split: ``"train"``, ``"val"`` or ``"all"`` (the store's deterministic validation split).
        window: frames per window (16 in the paper).
        games: game names to use (all games in the store if None); ``game_index`` indexes into :attr:`games`.
        stride: distance between consecutive window starts of an episode (1 if None: every start).
        max_open_episodes: episodes kept memory-mapped at once per process (each map holds file descriptors).

    Item: ``{"frames": uint8 tensor (window, 64, 64, 3), "actions": int64 tensor (window - 1,),
    "game_index": int}`` where ``actions[t]`` is applied at ``frames[t]`` and produces ``frames[t + 1]``.

    Corrupt episodes are skipped with a warning when the dataset is built.
    """

    def __init__(
        self,
        store_dir: os.PathLike | str,
        split: str = "train",
        window: int = 16,
        games: str | Iterable[str] | None = None,
        stride: int | None = None,
        max_open_episodes: int = 128,
    ) -> None:
        if window < 2:
            raise ValueError(f"window must be >= 2 frames (one action), got {window}")
        stride = 1 if stride is None else int(stride)
        if stride < 1:
            raise ValueError(f"stride must be >= 1, got {stride}")
        self.store = EpisodeStore(store_dir)
        if not self.store.root.is_dir():
            raise FileNotFoundError(f"no episode store at {self.store.root}; collect one with `genie collect`")
        if games is None:
            self.games: list[str] = self.store.games()
        else:
            self.games = [games] if isinstance(games, str) else list(games)
        self.split = split
        self.window = int(window)
        self.stride = stride
        self.max_open_episodes = max(1, int(max_open_episodes))

        refs: list[EpisodeRef] = []
        lengths: list[int] = []
        for ref in self.store.refs(self.games, split):
            try:
                length = check_episode(ref)["length"]
            except CorruptEpisodeError as exc:
                warnings.warn(f"WindowDataset skips {ref}: {exc}", stacklevel=2)
                continue
            if length >= self.window:
                refs.append(ref)
                lengths.append(length)
        self.episodes: list[EpisodeRef] = refs
        self.lengths = np.asarray(lengths, dtype=np.int64)
        counts = (self.lengths - self.window) // self.stride + 1 if refs else np.zeros(0, np.int64)
        self._cumulative = np.cumsum(counts)
        self._game_index = np.asarray([self.games.index(r.game) for r in refs], dtype=np.int64)
        if len(self) == 0:
            raise ValueError(
                f"no {self.window}-frame windows in split {split!r} of {self.store.root} (games {self.games}): "
                "the store has no episode that long there; collect more or longer episodes, or use a smaller window"
            )
        self._cache: OrderedDict[int, tuple[np.ndarray, np.ndarray]] = OrderedDict()
        self._cache_pid = os.getpid()

    def __len__(self) -> int:
        return int(self._cumulative[-1]) if len(self._cumulative) else 0

    def locate(self, index: int) -> tuple[EpisodeRef, int]:
        """``(episode, start frame)`` of window ``index``."""
        episode, start = self._locate(index)
        return self.episodes[episode], start

    def _locate(self, index: int) -> tuple[int, int]:
        index = int(index)
        if index < 0:
            index += len(self)
        if not 0 <= index < len(self):
            raise IndexError(f"window index {index} out of range [0, {len(self)})")
        episode = int(np.searchsorted(self._cumulative, index, side="right"))
        before = int(self._cumulative[episode - 1]) if episode else 0
        return episode, (index - before) * self.stride

    def __getitem__(self, index: int) -> dict[str, torch.Tensor | int]:
        episode, start = self._locate(index)
        frames, actions = self._arrays(episode)
        end = start + self.window
        return {
            "frames": torch.from_numpy(np.array(frames[start:end])),
            "actions": torch.from_numpy(np.array(actions[start : end - 1])),
            "game_index": int(self._game_index[episode]),
        }

    def _arrays(self, episode: int) -> tuple[np.ndarray, np.ndarray]:
        """Memory-mapped frames and in-memory actions of one episode, opened lazily in this process."""
        if self._cache_pid != os.getpid():  # forked into a DataLoader worker: never share the parent's maps
            self._cache = OrderedDict()
            self._cache_pid = os.getpid()
        cached = self._cache.get(episode)
        if cached is not None:
            self._cache.move_to_end(episode)
            return cached
        ref = self.episodes[episode]
        try:
            frames = np.load(ref.frames_path, mmap_mode="r", allow_pickle=False)
            actions = np.load(ref.actions_path, allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise CorruptEpisodeError(ref.path, f"cannot load arrays ({exc})") from exc
        if frames.shape[0] != self.lengths[episode] or actions.shape != (frames.shape[0] - 1,):
            raise CorruptEpisodeError(ref.path, "arrays changed on disk since the dataset was built")
        self._cache[episode] = (frames, actions)
        if len(self._cache) > self.max_open_episodes:
            self._cache.popitem(last=False)
        return frames, actions

    def __getstate__(self) -> dict:
        state = self.__dict__.copy()
        state["_cache"] = OrderedDict()  # memory maps are reopened in the receiving process
        return state

    def __repr__(self) -> str:
        return (f"WindowDataset({str(self.store.root)!r}, split={self.split!r}, window={self.window}, "
                f"games={self.games}, stride={self.stride}: {len(self.episodes)} episodes, {len(self)} windows)")


class RandomWindowSampler(Sampler[int]):
    """Draws ``num_samples`` window indices uniformly at random (with replacement) from a :class:`WindowDataset`.

    Deterministic given ``seed`` and the epoch (:meth:`set_epoch`): the same seed gives the same windows.

    Args:
        dataset: the window dataset (anything with ``len``).
        num_samples: windows per epoch (``len(dataset)`` if None).
        seed: base seed.
    """

    def __init__(self, dataset: Dataset, num_samples: int | None = None, seed: int = 0) -> None:
        self.size = len(dataset)
        self.num_samples = self.size if num_samples is None else int(num_samples)
        if self.size == 0 or self.num_samples < 0:
            raise ValueError("RandomWindowSampler needs a non-empty dataset and num_samples >= 0")
        self.seed = int(seed)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Use a different (still deterministic) draw for each epoch."""
        self.epoch = int(epoch)

    def __len__(self) -> int:
        return self.num_samples

    def __iter__(self) -> Iterator[int]:
        rng = np.random.default_rng([self.seed, self.epoch])
        return iter(rng.integers(0, self.size, size=self.num_samples).tolist())

