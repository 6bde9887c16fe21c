"""Image-quality metrics of the evaluation protocol (docs/DESIGN.md §6): PSNR, SSIM and ΔPSNR.

All functions take float images in ``[0, 1]`` shaped ``(N, 3, H, W)`` (or ``(B, T, 3, H, W)``, flattened to frames).
PSNR is computed per frame and then averaged, as in the paper's protocol.
"""

from __future__ import annotations

import numpy as np
import torch


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
