"""``genie_gym.image_grid``: the one grid builder behind every picture of frames, and its PNG writer."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from genie_gym.image_grid import image_grid, write_png


def _tile(value: int, shape: tuple[int, ...] = (2, 3, 3)) -> np.ndarray:
    return np.full(shape, value, dtype=np.uint8)


def test_tiles_land_in_rows_and_columns_with_gaps_and_margin() -> None:
    grid = image_grid([[_tile(1), _tile(2)], [_tile(3)]], scale=2, gap=1, margin=3, fill=9)
    # 2 rows of 4 px, 2 columns of 6 px, 1 px between, 3 px around
    assert grid.shape == (3 + 4 + 1 + 4 + 3, 3 + 6 + 1 + 6 + 3, 3)
    assert (grid[3:7, 3:9] == 1).all() and (grid[3:7, 10:16] == 2).all() and (grid[8:12, 3:9] == 3).all()
    assert (grid[8:12, 10:16] == 9).all(), "the short row's missing cell keeps the fill"
    assert (grid[:3] == 9).all() and (grid[7] == 9).all() and (grid[:, 9] == 9).all()


def test_defaults_margin_to_gap_and_keeps_leading_axes() -> None:
    frames = np.arange(2 * 2 * 3 * 3, dtype=np.uint8).reshape(2, 2, 3, 3)  # an animation of 2 time steps
    grid = image_grid([[frames, frames]], gap=2, columns=3, fill=0)
    assert grid.shape == (2, 2 + 2 + 2, 2 + 3 * (3 + 2), 3)
    assert np.array_equal(grid[:, 2:4, 2:5], frames) and np.array_equal(grid[:, 2:4, 7:10], frames)
    assert (grid[:, :, 12:] == 0).all()


def test_refuses_what_is_not_a_grid_of_equal_uint8_frames() -> None:
    with pytest.raises(ValueError, match="at least one tile"):
        image_grid([[]])
    with pytest.raises(ValueError, match="uint8 tiles"):
        image_grid([[np.zeros((2, 2, 3), dtype=np.float32)]])
    with pytest.raises(ValueError, match="one shape"):
        image_grid([[_tile(1), _tile(1, (3, 3, 3))]])


def test_write_png_round_trips_rgb(tmp_path) -> None:
    image = np.zeros((4, 5, 3), dtype=np.uint8)
    image[..., 0] = 200  # red
    path = write_png(tmp_path / "sub" / "grid.png", image)
    assert np.array_equal(cv2.imread(str(path))[..., ::-1], image)
    (tmp_path / "taken.png").mkdir()
    with pytest.raises(OSError, match="could not write"):
        write_png(tmp_path / "taken.png", image)
