"""Conversions between the data store's uint8 frames and the float images the models work on.

The data store and the environments hold frames as RGB ``uint8`` ``(B, T, H, W, 3)`` (channels last, see
``genie_gym.conventions``); the models take float ``(B, T, 3, H, W)`` in ``[0, 1]`` (channels first).
"""

from __future__ import annotations

import numpy as np
import torch


def frames_to_float(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Turn uint8 frames ``(..., H, W, 3)`` (e.g. ``(B, T, 64, 64, 3)``) into float32 ``(..., 3, H, W)`` in [0, 1]."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if frames.dtype != torch.uint8:
        raise ValueError(f"frames_to_float expects uint8 frames (..., H, W, 3), got dtype {frames.dtype}")
    if frames.ndim < 3 or frames.shape[-1] != 3:
        raise ValueError(f"frames_to_float expects frames (..., H, W, 3), got shape {tuple(frames.shape)}")
    return frames.movedim(-1, -3).float().div_(255.0)


def float_to_frames(images: torch.Tensor) -> torch.Tensor:
    """Turn float images ``(..., 3, H, W)`` in ``[0, 1]`` into uint8 frames ``(..., H, W, 3)`` (clamped, rounded)."""
    if not images.is_floating_point():
        raise ValueError(f"float_to_frames expects float images (..., 3, H, W), got dtype {images.dtype}")
    if images.ndim < 3 or images.shape[-3] != 3:
        raise ValueError(f"float_to_frames expects images (..., 3, H, W), got shape {tuple(images.shape)}")
    return images.detach().clamp(0.0, 1.0).mul(255.0).round_().to(torch.uint8).movedim(-3, -1).contiguous()


def as_float_frames(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """Accept uint8 frames ``(B, T, H, W, 3)`` or float images ``(B, T, 3, H, W)``; return float ``(B, T, 3, H, W)``."""
    if isinstance(frames, np.ndarray):
        frames = torch.from_numpy(np.ascontiguousarray(frames))
    if frames.dtype == torch.uint8:
        return frames_to_float(frames)
    if not frames.is_floating_point() or frames.ndim < 3 or frames.shape[-3] != 3:
        raise ValueError(
            "expected uint8 frames (B, T, H, W, 3) or float images (B, T, 3, H, W) in [0, 1]; "
            f"got dtype {frames.dtype} and shape {tuple(frames.shape)}"
        )
    return frames


def patchify(images: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Cut float images ``(B, T, 3, H, W)`` into patches ``(B, T, H/p, W/p, p*p*3)``."""
    b, t, c, height, width = images.shape
    if height % patch_size or width % patch_size:
        raise ValueError(f"image size {height}x{width} is not a multiple of patch size {patch_size}")
    h, w = height // patch_size, width // patch_size
    x = images.reshape(b, t, c, h, patch_size, w, patch_size)
    return x.permute(0, 1, 3, 5, 4, 6, 2).reshape(b, t, h, w, patch_size * patch_size * c)


def unpatchify(patches: torch.Tensor, patch_size: int) -> torch.Tensor:
    """Inverse of :func:`patchify`: ``(B, T, h, w, p*p*3) -> (B, T, 3, h*p, w*p)``."""
    b, t, h, w, dim = patches.shape
    c = dim // (patch_size * patch_size)
    x = patches.reshape(b, t, h, w, patch_size, patch_size, c)
    return x.permute(0, 1, 6, 2, 4, 3, 5).reshape(b, t, c, h * patch_size, w * patch_size)
