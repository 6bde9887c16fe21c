"""Image grids: frames laid out in rows and columns with gaps, and PNG files of them.

Every picture the package draws of frames (``genie eval --grid``, ``genie data preview``, the annotation clips, the
training images, the play window) is a grid of equally sized tiles; :func:`image_grid` builds it, once.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import cv2
import numpy as np


def image_grid(rows: Sequence[Sequence[np.ndarray] | np.ndarray], *, scale: int = 1, gap: int = 0,
               margin: int | None = None, fill: int | tuple[int, int, int] = 255,
               columns: int | None = None) -> np.ndarray:
    """Tiles placed in rows, each upscaled ``scale`` times (nearest neighbour), ``gap`` pixels of ``fill`` between
    two tiles and ``margin`` (default ``gap``) around them all.

    ``rows``: a sequence of rows, each a sequence (or an array with a leading axis) of uint8 tiles
    ``(..., H, W, 3)`` of one shape; leading axes (e.g. time, for an animation) are kept, so tiles
    ``(N, H, W, 3)`` give ``(N, height, width, 3)``. A row shorter than ``columns`` (default: the longest row)
    leaves its last cells filled.
    """
    tiles = [[np.asarray(tile) for tile in row] for row in rows]
    first = next((tile for row in tiles for tile in row), None)
    if first is None:
        raise ValueError("image_grid needs at least one tile")
    if first.dtype != np.uint8 or first.ndim < 3 or first.shape[-1] != 3:
        raise ValueError(f"image_grid takes uint8 tiles (..., H, W, 3), got {first.dtype} {first.shape}")
    margin = gap if margin is None else margin
    columns = columns or max(len(row) for row in tiles)
    lead, (height, width) = first.shape[:-3], (first.shape[-3] * scale, first.shape[-2] * scale)
    grid = np.empty((*lead, 2 * margin + len(tiles) * (height + gap) - gap,
                     2 * margin + columns * (width + gap) - gap, 3), dtype=np.uint8)
    grid[...] = fill
    for r, row in enumerate(tiles):
        for c, tile in enumerate(row):
            if tile.shape != first.shape:
                raise ValueError(f"image_grid takes tiles of one shape: {tile.shape} at row {r}, column {c}, "
                                 f"{first.shape} at the first")
            top, left = margin + r * (height + gap), margin + c * (width + gap)
            grid[..., top : top + height, left : left + width, :] = tile.repeat(scale, -3).repeat(scale, -2)
    return grid


def write_png(path: str | Path, image: np.ndarray) -> Path:
    """Write an RGB uint8 image ``(H, W, 3)`` as a PNG (creating its folder); returns the path."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not cv2.imwrite(str(path), cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2BGR)):
        raise OSError(f"could not write {path}: check that its folder is writable and the name ends in .png")
    return path
