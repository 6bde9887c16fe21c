"""Mix episode stores into a new one by linking, with a repeat count per source (no frame is copied).

``genie data mix --out data/smb_act2 data/smb_mix data/smb_start_random:3`` makes a store whose episodes are
relative symbolic links to the sources' episode directories, numbered ``0..N-1`` per game in the order given (a
source with ``:K`` appears ``K`` times, i.e. is sampled ``K`` times as often by the trainers). The per-episode arrays
a source already cached for a frozen model (token ids ``SOURCE/.tokens/FINGERPRINT/GAME/ep_*.npy`` and LAM codes
under ``.latent_actions``, see :mod:`genie_gym.trainers.token_cache`) are hard-linked (or copied) under the new
indices, so
training the dynamics on the mix tokenizes nothing again. The mix's train/validation split follows its own
indices (as every store's does); keep held-out test stores out of the sources.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from genie_gym.data.store import EpisodeStore, episode_name

CACHE_DIRS = (".tokens", ".latent_actions")


@dataclass(frozen=True)
class MixSource:
    """One source store and how many times its episodes enter the mix."""

    root: Path
    repeat: int = 1

    @classmethod
    def parse(cls, text: str) -> MixSource:
        """``"DIR"`` or ``"DIR:K"`` (K >= 1 repeats)."""
        path, _, repeat = text.rpartition(":") if ":" in text else (text, "", "1")
        try:
            count = int(repeat)
        except ValueError:
            raise ValueError(f"bad mix source {text!r}: expected DIR or DIR:K with K a positive integer") from None
        if count < 1:
            raise ValueError(f"bad mix source {text!r}: the repeat count must be >= 1")
        return cls(Path(path), count)


@dataclass
class MixSummary:
    """What :func:`mix_stores` made: episodes per game and cached per-episode arrays linked."""

    episodes: dict[str, int]
    cached_files: int


def link_or_copy(source: Path, target: Path) -> None:
    """Make ``target`` a hard link to ``source``, or a copy of it where hard links fail (another file system)."""
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def mix_stores(sources: list[MixSource], out: os.PathLike | str) -> MixSummary:
    """Build the store ``out`` from ``sources`` (see the module docstring); returns what it made.

    Raises ``FileExistsError`` if ``out`` exists and is not empty (nothing is overwritten) and ``FileNotFoundError``
    / ``ValueError`` for a source that is not an episode store or has no episodes.
    """
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} already exists and is not empty; choose a new --out directory")
    if not sources:
        raise ValueError("give at least one source store")
    stores = []
    for source in sources:
        if not source.root.is_dir():
            raise FileNotFoundError(f"source store {source.root} does not exist")
        store = EpisodeStore(source.root)
        if not store.games():
            raise ValueError(f"{source.root} holds no episodes (expected GAME/ep_NNNNNN directories)")
        stores.append((source, store))
    counts: dict[str, int] = {}
    cached_files = 0
    prepared: set[Path] = set()
    for source, store in stores:
        root = source.root.resolve()
        caches = [(name, path) for name in CACHE_DIRS for path in sorted((root / name).glob("*")) if path.is_dir()]
        for game in store.games():
            game_dir = out / game
            game_dir.mkdir(parents=True, exist_ok=True)
            for _ in range(source.repeat):
                for index in store.indices(game):
                    new_index = counts.get(game, 0)
                    counts[game] = new_index + 1
                    target = game_dir / episode_name(new_index)
                    os.symlink(os.path.relpath(root / game / episode_name(index), game_dir), target)
                    for cache_dir, cache in caches:
                        cached = cache / game / f"{episode_name(index)}.npy"
                        if not cached.is_file():
                            continue
                        new_cache = out / cache_dir / cache.name
                        if new_cache / game not in prepared:  # once per cache and game, at its first file
                            (new_cache / game).mkdir(parents=True, exist_ok=True)
                            for extra in cache.glob("*.json"):  # the cache's description (tokenizer, fingerprint)
                                if not (new_cache / extra.name).exists():
                                    shutil.copy2(extra, new_cache / extra.name)
                            prepared.add(new_cache / game)
                        link_or_copy(cached, new_cache / game / f"{episode_name(new_index)}.npy")
                        cached_files += 1
    return MixSummary(counts, cached_files)
