"""Animated GIF preview of an episode store: a few episodes side by side in a grid, upscaled."""

from __future__ import annotations

import math
import os
from pathlib import Path

import numpy as np

from genie_gym.conventions import FRAME_SIZE
from genie_gym.data.store import EpisodeRef, EpisodeStore, load_episode

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
    columns = columns or min(len(refs), 4)
    rows = math.ceil(len(refs) / columns)
    tile = FRAME_SIZE * scale
    height = rows * tile + (rows + 1) * gap
    width = columns * tile + (columns + 1) * gap
    grid = np.full((steps, height, width, 3), GAP_COLOUR, dtype=np.uint8)
    for k, clip in enumerate(clips):
        index = np.minimum(np.arange(steps), clip.shape[0] - 1)
        big = np.asarray(clip[index]).repeat(scale, axis=1).repeat(scale, axis=2)
        top = gap + (k // columns) * (tile + gap)
        left = gap + (k % columns) * (tile + gap)
        grid[:, top : top + tile, left : left + tile] = big
    return grid


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
    import imageio.v3 as iio

    grid = preview_grid(store_dir, episodes=episodes, frames=frames, scale=scale, **grid_kwargs)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(out_path, grid, extension=".gif", duration=1000.0 / fps, loop=0)
    return out_path
