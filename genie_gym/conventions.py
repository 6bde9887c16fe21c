"""Conventions shared by every part of genie-gym (see docs/DESIGN.md §3).

- Frames are RGB ``uint8`` arrays of shape ``(64, 64, 3)``. A full-resolution emulator frame is padded to a
  square with black (the frame centred) and resized with ``cv2.INTER_AREA``.
- The action space is ``Discrete(5)`` in the order ``RIGHT, LEFT, UP, DOWN, JUMP``.
- Each action is repeated for :data:`FRAME_SKIP` emulator frames; the last one is the observation.
- In an episode ``actions[t]`` is applied at ``frames[t]`` and produces ``frames[t + 1]``, hence
  ``len(actions) == len(frames) - 1``.
"""

from __future__ import annotations

import cv2
import numpy as np

FRAME_SIZE: int = 64
FRAME_SHAPE: tuple[int, int, int] = (FRAME_SIZE, FRAME_SIZE, 3)
FRAME_SKIP: int = 4
ACTION_NAMES: tuple[str, ...] = ("RIGHT", "LEFT", "UP", "DOWN", "JUMP")
NUM_ACTIONS: int = len(ACTION_NAMES)


def pad_to_square(frame: np.ndarray) -> np.ndarray:
    """Pad an ``(H, W, 3)`` frame with black to ``(S, S, 3)``, ``S = max(H, W)``, keeping it centred.

    A 224x240 NES frame gets 8 black rows above and 8 below.
    """
    if frame.ndim != 3 or frame.shape[2] != 3:
        raise ValueError(f"expected an (H, W, 3) RGB frame, got shape {frame.shape}")
    height, width = frame.shape[:2]
    size = max(height, width)
    if height == width:
        return frame
    top = (size - height) // 2
    left = (size - width) // 2
    square = np.zeros((size, size, 3), dtype=frame.dtype)
    square[top : top + height, left : left + width] = frame
    return square


def preprocess_frame(frame: np.ndarray, size: int = FRAME_SIZE) -> np.ndarray:
    """Turn a full-resolution ``(H, W, 3)`` uint8 frame into the shared ``(size, size, 3)`` uint8 frame."""
    square = pad_to_square(frame)
    if square.shape[0] == size:
        return np.ascontiguousarray(square, dtype=np.uint8)
    return cv2.resize(square, (size, size), interpolation=cv2.INTER_AREA).astype(np.uint8, copy=False)


def validate_action(action: object) -> int:
    """Return ``action`` as a Python int in ``[0, NUM_ACTIONS)`` or raise one clear ``ValueError``.

    Accepted: a Python ``int``, a numpy integer scalar (``np.int64(4)``, what ``action_space.sample()`` and the
    vector envs pass) or a 0-d integer array (``np.array(4)``, what SB3's ``predict`` returns for one observation).
    Anything else is rejected, also when it would convert: ``2.0``, ``"1"``, ``True``, ``np.array([1])``.
    """
    is_integer = isinstance(action, int | np.integer) or (
        isinstance(action, np.ndarray) and action.ndim == 0 and action.dtype.kind in "iu")
    if not is_integer or isinstance(action, bool | np.bool_):
        raise ValueError(_bad_action_message(action))
    value = int(action)
    if not 0 <= value < NUM_ACTIONS:
        raise ValueError(_bad_action_message(action))
    return value


def _bad_action_message(action: object) -> str:
    names = ", ".join(f"{i} {name}" for i, name in enumerate(ACTION_NAMES))
    if isinstance(action, np.ndarray):
        given = f"an array of shape {action.shape} and dtype {action.dtype}"
    else:
        text = repr(action)
        given = f"{text if len(text) <= 40 else text[:37] + '...'} ({type(action).__name__})"
    return (f"invalid action {given}: expected one integer in [0, {NUM_ACTIONS}) ({names}) as a Python int, numpy "
            "integer or 0-d integer array, e.g. env.step(0)")


def validate_frames(frames: np.ndarray, what: str = "frames") -> np.ndarray:
    """Check that ``frames`` is uint8 ``(..., 64, 64, 3)`` and return it; raise a clear ``ValueError`` otherwise."""
    frames = np.asarray(frames)
    if frames.dtype != np.uint8 or frames.shape[-3:] != FRAME_SHAPE:
        raise ValueError(
            f"{what} must be uint8 with shape (..., {FRAME_SIZE}, {FRAME_SIZE}, 3); "
            f"got dtype {frames.dtype} and shape {frames.shape}. "
            "Use genie_gym.conventions.preprocess_frame to convert full-resolution RGB frames."
        )
    return frames
