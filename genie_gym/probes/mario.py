"""Is Mario on screen? A tiny learned detector for 64x64 Super Mario Bros frames, real or dreamed.

The probes' bars ask whether the dream keeps Mario (issue 35: "Mario visible in >= 95% of frames"). At 64x64 he is
a blurred 4x4 (small) to 4x8 (big) blob, blurrier still in a dream, so colour thresholds break; this detector is a
~33k-parameter CNN trained on real frames labelled from the emulator (RAM position + Mario's own palette pixels, see
:mod:`genie_gym.probes.mario_train`), their tokenizer round trips (the dream's blur) and synthetic negatives (Mario
erased, the level-intro screens, Mario below the screen).

It scores every 4x4 patch of the frame (a 16x16 heatmap) plus one "no Mario" logit, softmaxed together: the presence
probability is ``1 - p(no Mario)`` and the position is the best patch refined by the heatmap's local centroid.

    from genie_gym.probes.mario import MarioDetector
    detector = MarioDetector.load()            # checkpoints/mario-detector, threshold from its validation split
    detector.visible(frames)                   # uint8 (N, 64, 64, 3) -> bool (N,)
    detector.position(frames)                  # -> float (N, 2) (row, col) in pixels, NaN where not visible
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from genie_gym.conventions import FRAME_SHAPE
from genie_gym.world_model import checkpoint_search_paths

GRID = 16  # heatmap cells per side: one per 4x4 patch of the 64x64 frame
CELL = FRAME_SHAPE[0] // GRID
DEFAULT_NAME = "mario-detector"


class MarioNet(nn.Module):
    """Fully convolutional: ``(N, 3, 64, 64)`` floats in [0, 1] -> logits ``(N, GRID * GRID + 1)``, the last one
    "no Mario". Its receptive field (~29 px) sees a patch's surroundings: Mario against a goomba, the intro screen's
    Mario icon on black."""

    def __init__(self, width: int = 32) -> None:
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, 16, 3, padding=1), nn.ReLU(),
            nn.Conv2d(16, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, stride=2, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=1), nn.ReLU(),
            nn.Conv2d(width, width, 3, padding=2, dilation=2), nn.ReLU(),
            nn.Conv2d(width, 1, 1),
        )
        self.absent = nn.Parameter(torch.zeros(1))  # the "no Mario" logit, the level each patch must beat

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        cells = self.features(images).flatten(1)
        return torch.cat([cells, self.absent.expand(len(cells), 1)], dim=1)


def check_frames(frames: np.ndarray) -> np.ndarray:
    """``frames`` as uint8 ``(N, 64, 64, 3)`` (a single ``(64, 64, 3)`` frame becomes ``N = 1``), or one clear
    ``ValueError``."""
    frames = np.asarray(frames)
    if frames.ndim == 3:
        frames = frames[None]
    if frames.ndim != 4 or frames.shape[1:] != FRAME_SHAPE or frames.dtype != np.uint8:
        raise ValueError(f"the Mario detector takes uint8 frames (N, 64, 64, 3) (RGB, the 64x64 SMB observation), "
                         f"got {frames.dtype} {frames.shape}")
    return frames


def to_input(frames: np.ndarray) -> torch.Tensor:
    """uint8 ``(N, 64, 64, 3)`` -> float ``(N, 3, 64, 64)`` in [0, 1]."""
    return torch.from_numpy(np.ascontiguousarray(frames)).permute(0, 3, 1, 2).float() / 255


def cell_centroid(probs: np.ndarray) -> np.ndarray:
    """Pixel ``(row, col)`` float ``(N, 2)`` of the heatmap's mass around its best cell: the probability-weighted mean
    of the 3x3 cells around the argmax (Mario often straddles two cells). ``probs``: ``(N, GRID, GRID)``."""
    best = probs.reshape(len(probs), -1).argmax(1)
    rows, cols = best // GRID, best % GRID
    out = np.zeros((len(probs), 2))
    for i, (r, c) in enumerate(zip(rows, cols, strict=True)):
        r0, c0 = max(r - 1, 0), max(c - 1, 0)
        window = probs[i, r0 : r + 2, c0 : c + 2]
        rr, cc = np.meshgrid(np.arange(r0, r0 + window.shape[0]), np.arange(c0, c0 + window.shape[1]), indexing="ij")
        mass = window.sum()
        out[i] = ((rr * window).sum() / mass, (cc * window).sum() / mass)
    return (out + 0.5) * CELL - 0.5  # cell index -> centre pixel


class MarioDetector:
    """The trained :class:`MarioNet` and its decision threshold on the presence probability."""

    def __init__(self, model: MarioNet, threshold: float = 0.5, card: dict | None = None) -> None:
        self.model = model.eval()
        self.threshold = float(threshold)
        self.card = card or {}

    @classmethod
    def load(cls, path: str | Path | None = None) -> MarioDetector:
        """From a directory with ``model.safetensors`` and ``config.json`` (default: the shipped
        ``checkpoints/mario-detector``). Weights are read with safetensors, never unpickled."""
        directory = Path(path) if path is not None else default_path()
        config = json.loads((directory / "config.json").read_text())
        model = MarioNet(width=int(config.get("width", 32)))
        model.load_state_dict(load_file(str(directory / "model.safetensors")))
        return cls(model, threshold=config["threshold"], card=config)

    def save(self, directory: str | Path, extra: dict | None = None) -> Path:
        """Write ``model.safetensors`` (fp32) and ``config.json`` (width, threshold and ``extra``)."""
        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        save_file({k: v.detach().contiguous() for k, v in self.model.state_dict().items()},
                  str(directory / "model.safetensors"))
        config = {"width": self.model.features[2].out_channels, "threshold": self.threshold, **(extra or {})}
        (directory / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        return directory

    @torch.no_grad()
    def probabilities(self, frames: np.ndarray, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
        """``(presence float (N,), heatmap float (N, GRID, GRID))`` of uint8 frames ``(N, 64, 64, 3)``; the heatmap is
        the probability of Mario in each 4x4 patch (it sums to ``presence``)."""
        frames = check_frames(frames)
        outs = [self.model(to_input(frames[i : i + batch])).softmax(1).numpy() for i in range(0, len(frames), batch)]
        probs = np.concatenate(outs) if outs else np.zeros((0, GRID * GRID + 1), dtype=np.float32)
        return 1 - probs[:, -1], probs[:, :-1].reshape(-1, GRID, GRID)

    def visible(self, frames: np.ndarray) -> np.ndarray:
        """bool ``(N,)``: Mario is on screen in each uint8 frame ``(N, 64, 64, 3)``."""
        return self.probabilities(frames)[0] >= self.threshold

    def position(self, frames: np.ndarray) -> np.ndarray:
        """float ``(N, 2)``: Mario's centre ``(row, col)`` in pixels of the 64x64 frame, NaN where not visible."""
        presence, heatmap = self.probabilities(frames)
        out = cell_centroid(heatmap) if len(heatmap) else np.zeros((0, 2))
        out[presence < self.threshold] = np.nan
        return out


def default_path() -> Path:
    """The shipped detector's directory (``checkpoints/mario-detector``, or the installed copy)."""
    for root in checkpoint_search_paths():
        if (root / DEFAULT_NAME / "model.safetensors").is_file():
            return root / DEFAULT_NAME
    raise FileNotFoundError(f"no {DEFAULT_NAME} checkpoint in {[str(p) for p in checkpoint_search_paths()]}: train "
                            "one with `python -m genie_gym.probes.mario_train --out checkpoints/mario-detector`")


_SHARED: dict[str, MarioDetector] = {}


def shared_detector() -> MarioDetector:
    """The shipped detector, loaded once per process (the probes call it per run)."""
    if "default" not in _SHARED:
        _SHARED["default"] = MarioDetector.load()
    return _SHARED["default"]
