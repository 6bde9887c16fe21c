"""The play window's image: panels side by side, the header, and each panel's label when there are several."""

from __future__ import annotations

import numpy as np
import pytest

from genie_gym.play import HEADER_HEIGHT, compose_canvas, panel_offsets, render_window


@pytest.fixture(scope="module")
def font():
    pygame = pytest.importorskip("pygame")
    pygame.font.init()
    return pygame.font.Font(None, 20)


def test_panels_are_placed_at_their_offsets():
    red, blue = np.zeros((64, 64, 3), np.uint8), np.zeros((64, 64, 3), np.uint8)
    red[..., 0], blue[..., 2] = 200, 200
    canvas = compose_canvas([("real", red), ("dream", blue)], scale=2)
    left, right = panel_offsets(2, scale=2)
    assert canvas.shape == (HEADER_HEIGHT + 128, right + 128, 3)
    assert (canvas[HEADER_HEIGHT:, left : left + 128] == red[0, 0]).all()
    assert (canvas[HEADER_HEIGHT:, right : right + 128] == blue[0, 0]).all()
    assert (canvas[HEADER_HEIGHT:, left + 128 : right] == 0).all()  # the gap


def test_side_by_side_panels_carry_their_labels_and_a_single_panel_does_not(font):
    grey = np.full((64, 64, 3), 90, np.uint8)
    corner = (slice(HEADER_HEIGHT, HEADER_HEIGHT + 20), slice(0, 40))  # where a label is written, per panel
    labelled = render_window([("real", grey), ("dream", grey)], "header", scale=3, font=font)
    for x in panel_offsets(2, scale=3):
        patch = labelled[corner[0], x + corner[1].start : x + corner[1].stop]
        assert (patch == 255).all(axis=-1).any() and (patch == 0).all(axis=-1).any()  # white text on black
    alone = render_window([("dream", grey)], "header", scale=3, font=font)
    assert (alone[HEADER_HEIGHT:] == 90).all()  # one panel: the header says which it is
