"""Animated GIF preview of an episode store: a few episodes side by side in a grid, upscaled."""

from __future__ import annotations

import os
from pathlib import Path

import imageio.v3 as iio
import numpy as np

from genie_gym.data.store import EpisodeRef, EpisodeStore, load_episode
from genie_gym.image_grid import image_grid

GAP_COLOUR = 48


def pick_episodes(
    store: EpisodeStore, count: int, split: str = "all", games: list[str] | None = None
) -> list[EpisodeRef]:
    """Up to ``count`` valid episodes, taken round-robin over the games (first episodes of each game first)."""
    per_game = [store.episodes(game, split, validate=True) for game in (games or store.games())]
    picked = []
    depth = 0
    while len(picked) < count and any(depth < len(refs) for refs in per_game):
        for refs in per_game:
            if depth < len(refs) and len(picked) < count:
                picked.append(refs[depth])
        depth += 1
    return picked


def preview_grid(
    store_dir: os.PathLike | str,
    episodes: int = 4,
    frames: int = 64,
    scale: int = 2,
    columns: int | None = None,
    split: str = "all",
    games: list[str] | None = None,
    gap: int = 2,
) -> np.ndarray:
    """The preview animation as an array.

    Returns uint8 ``(N, H, W, 3)``: ``N = min(frames, longest picked episode)`` time steps of a grid of
    ``episodes`` tiles (``columns`` per row, default up to 4), each tile a ``64*scale`` square (nearest-neighbour
    upscaling) separated by ``gap`` grey pixels. An episode shorter than ``N`` holds its last frame.
    """
    if episodes < 1 or frames < 1 or scale < 1:
        raise ValueError("episodes, frames and scale must all be >= 1")
    store = EpisodeStore(store_dir)
    refs = pick_episodes(store, episodes, split, games)
    if not refs:
        raise ValueError(f"no valid episodes in {store.root} to preview (split={split!r}, games={games})")
    clips = [load_episode(ref, mmap=True).frames for ref in refs]
    steps = min(frames, max(c.shape[0] for c in clips))
    tiles = [np.asarray(clip[np.minimum(np.arange(steps), clip.shape[0] - 1)]) for clip in clips]
    columns = columns or min(len(refs), 4)
    rows = [tiles[start : start + columns] for start in range(0, len(tiles), columns)]
    return image_grid(rows, scale=scale, gap=gap, fill=GAP_COLOUR, columns=columns)


def write_preview(
    store_dir: os.PathLike | str,
    out_path: os.PathLike | str,
    episodes: int = 4,
    frames: int = 64,
    scale: int = 2,
    fps: float = 15.0,
    **grid_kwargs,
) -> Path:
    """Write :func:`preview_grid` as a looping animated GIF at ``fps`` frames per second; returns the path."""
    grid = preview_grid(store_dir, episodes=episodes, frames=frames, scale=scale, **grid_kwargs)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out_path, grid, extension=".gif", duration=1000.0 / fps, loop=0)
    return out_path
