"""Image-quality metrics of the evaluation protocol (docs/DESIGN.md §6): PSNR, SSIM and ΔPSNR.

All functions take float images in ``[0, 1]`` shaped ``(N, 3, H, W)`` (or ``(B, T, 3, H, W)``, flattened to frames).
PSNR is computed per frame and then averaged, as in the paper's protocol.
"""

from __future__ import annotations

import cv2
import numpy as np
import torch

# torchmetrics (~0.3 s to import) is imported only by ssim(): `genie --help` and the probes import this module for
# PSNR and camera_shift alone.


def _as_frames(images: torch.Tensor) -> torch.Tensor:
    if images.ndim == 5:
        images = images.flatten(0, 1)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"expected float images (N, 3, H, W) or (B, T, 3, H, W), got shape {tuple(images.shape)}")
    return images.float()


def psnr_per_frame(prediction: torch.Tensor, target: torch.Tensor, eps: float = 1e-10) -> torch.Tensor:
    """PSNR in dB of each frame (peak 1.0).

    Args:
        prediction, target: float ``(N, 3, H, W)`` or ``(B, T, 3, H, W)`` in ``[0, 1]``.
    Returns:
        float ``(N,)`` (or ``(B*T,)``).
    """
    prediction, target = _as_frames(prediction), _as_frames(target)
    if prediction.shape != target.shape:
        raise ValueError(f"prediction {tuple(prediction.shape)} and target {tuple(target.shape)} differ in shape")
    mse = (prediction.clamp(0, 1) - target).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(1.0 / (mse + eps))


def psnr(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean of per-frame PSNR (dB)."""
    return float(psnr_per_frame(prediction, target).mean())


def ssim(prediction: torch.Tensor, target: torch.Tensor) -> float:
    """Mean SSIM (torchmetrics, Gaussian window 11, data range 1)."""
    from torchmetrics.functional.image import structural_similarity_index_measure

    prediction, target = _as_frames(prediction), _as_frames(target)
    return float(structural_similarity_index_measure(prediction.clamp(0, 1), target, data_range=1.0))


def delta_psnr(target: torch.Tensor, with_true_actions: torch.Tensor, with_random_actions: torch.Tensor) -> float:
    """ΔPSNR = PSNR(target, prediction with the true actions) − PSNR(target, prediction with random actions).

    All three are float ``(N, 3, H, W)`` frames at the same time step (t = 4 in the protocol).
    """
    return psnr(with_true_actions, target) - psnr(with_random_actions, target)


SMB_GROUND_BAND = slice(36, 56)  # rows of a 64 x 64 SMB frame with hills, bushes and pipes: they scroll with the camera


def camera_shift(first: np.ndarray, last: np.ndarray, max_shift: int = 32) -> int:
    """Pixels the level moved left (the camera moved right) from ``first`` to ``last``, uint8 ``(64, 64, 3)`` SMB
    frames each: the shift in ``0..max_shift`` that best aligns their ground bands (:data:`SMB_GROUND_BAND`)."""
    a, b = first[SMB_GROUND_BAND].astype(np.float32), last[SMB_GROUND_BAND].astype(np.float32)
    width = a.shape[1]
    errors = [np.abs(a[:, s:] - b[:, : width - s]).mean() for s in range(max_shift + 1)]
    return int(np.argmin(errors))


LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # ITU-R BT.601, RGB order
BLACK_LUMA = 8.0  # border rows / columns darker than this in every frame are cut off before hashing
SCREEN_HASH_DISTANCE = 2  # bits: hashes this close are one screen (measured on SMB and 6 other games, tests)


def content_box(frames: np.ndarray, black: float = BLACK_LUMA) -> tuple[slice, slice]:
    """The rows and columns of ``frames`` inside their black border: the bounding box of every pixel brighter than
    ``black`` (luma) in any of the frames, so the padding to a square (docs/DESIGN.md §3.1; 25 of the 64 columns of an
    Atari frame) and a game's own black margins are left out. All-black frames give the whole frame.

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``.
    Returns:
        ``(rows, cols)`` slices.
    """
    brightest = (np.asarray(frames).max(axis=0).astype(np.float32) @ LUMA_WEIGHTS)
    rows, cols = np.flatnonzero(brightest.max(axis=1) > black), np.flatnonzero(brightest.max(axis=0) > black)
    if len(rows) == 0:
        return slice(None), slice(None)
    return slice(rows[0], rows[-1] + 1), slice(cols[0], cols[-1] + 1)


def average_hash(frames: np.ndarray, hash_size: int = 8, crop_black_border: bool = True) -> np.ndarray:
    """The average hash (aHash) of each frame: a perceptual fingerprint that small changes leave as it is.

    The frames' black border (:func:`content_box`, the same box for all frames given) is cut off, the luma of what
    is left is resized to ``hash_size x hash_size`` blocks (``cv2.INTER_AREA``), and bit ``k`` (row-major, most
    significant first) is set where block ``k`` is brighter than the mean of the blocks. Without the crop, the black
    bars of a letterboxed frame decide most bits: two rooms of Adventure hash alike.

    Args:
        frames: uint8 RGB ``(T, H, W, 3)`` or one ``(H, W, 3)`` frame (64x64 by the shared convention).
        hash_size: blocks per side, 1..8 (a hash has ``hash_size ** 2`` bits).
        crop_black_border: cut the black border off first.
    Returns:
        uint64 ``(T,)`` (a 0-d array for one frame).
    """
    frames = np.asarray(frames)
    single = frames.ndim == 3
    batch = frames[None] if single else frames
    if batch.ndim != 4 or batch.shape[-1] != 3 or batch.dtype != np.uint8 or not 1 <= hash_size <= 8:
        raise ValueError(f"expected uint8 RGB frames (T, H, W, 3) or (H, W, 3) and hash_size 1..8, got "
                         f"{frames.dtype} {frames.shape} and hash_size {hash_size}")
    if len(batch) == 0:
        return np.zeros(0, dtype=np.uint64)
    rows, cols = content_box(batch) if crop_black_border else (slice(None), slice(None))
    luma = batch[:, rows, cols].astype(np.float32) @ LUMA_WEIGHTS
    blocks = np.stack([cv2.resize(frame, (hash_size, hash_size), interpolation=cv2.INTER_AREA) for frame in luma])
    bits = (blocks > blocks.mean(axis=(1, 2), keepdims=True)).reshape(len(blocks), -1).astype(np.uint64)
    weights = np.left_shift(np.uint64(1), np.arange(bits.shape[1] - 1, -1, -1, dtype=np.uint64))
    hashes = (bits * weights).sum(axis=1, dtype=np.uint64)
    return hashes[0] if single else hashes


def distinct_screens(frames: np.ndarray, max_distance: int = SCREEN_HASH_DISTANCE, hash_size: int = 8) -> int:
    """How many distinct screens the frames show: a progress measure for any game, for the explorers' real-game runs
    where the game names no position variable (SMB has its camera x in RAM, ``level_camera_x``).

    Each frame gets an :func:`average_hash` (black border cut off, 8x8 blocks). The screens are counted in frame
    order: a frame is a new screen when its hash differs in more than ``max_distance`` bits from every screen counted
    before it (0: only equal hashes are one screen). The default, 2 bits, keeps a still game at 1 screen while its
    sprites move (SMB, Pong, Seaquest, Montezuma's Revenge), and counts a new room (Adventure) or a few pixels of
    scrolling (SMB: ~70 screens in 300 steps running right) as new.

    Args:
        frames: uint8 RGB ``(T, H, W, 3)``, typically 64x64: one run, or several concatenated (the screens of all).
        max_distance: Hamming distance in bits up to which two hashes are one screen.
        hash_size: blocks per side of the hash (1..8).
    Returns:
        The number of distinct screens (0 for no frame).
    """
    frames = np.asarray(frames)
    if frames.ndim != 4:
        raise ValueError(f"expected uint8 RGB frames (T, H, W, 3), got shape {frames.shape}")
    hashes = average_hash(frames, hash_size)
    if max_distance <= 0:
        return len(np.unique(hashes))
    screens = np.zeros(len(hashes), dtype=np.uint64)
    count = 0
    first_frames = np.sort(np.unique(hashes, return_index=True)[1])  # each hash's first frame, in frame order
    for value in hashes[first_frames]:
        if count == 0 or np.bitwise_count(screens[:count] ^ value).min() > max_distance:
            screens[count] = value
            count += 1
    return count
