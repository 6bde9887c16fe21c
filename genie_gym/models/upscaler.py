"""Super-resolution U-Net: 64x64 frames to 256x256 (the paper's appendix B), and the frame upscaler play and the
dream envs use.

The paper upscales GenieRedux-G's 64x64 outputs to 256x256 with a U-Net trained with MSE on 256x256 frames captured
from the games (feature widths [64, 128, 256, 512], ~31M parameters; [128, 256, 512, 1024], ~124M). It does not say
where the U-Net sees the image, so here it works on the 64x64 frame, where it is 16x cheaper than at 256x256, and a
head of pixel-shuffle stages (x2 each) takes its features to 256x256. The network predicts the *residual* over the
bicubic upscaling of its input, and its last layer starts at zero, so an untrained model is exactly bicubic and
training can only move it from there (this also keeps it from inventing detail where the frame gives none, which in
a dream would flicker from frame to frame).

Sizes (``UPSCALER_PRESETS``): ``paper`` (widths [64, 128, 256, 512] + a 1024 bottleneck, the paper's small U-Net
at ~31M parameters), ``paper-large`` ([128, 256, 512, 1024], ~124M) and ``small``, which runs at play speed on one
CPU thread (docs of the numbers: ``checkpoints/upscaler-smb/MODEL_CARD.md``, ``evals/upscaler_eval.py``).

Training data: the 64x64 frames of an episode store and the 256x256 frames ``genie collect --hires`` keeps next to
them (:class:`HiresPairDataset`), both made from the same emulator frame by the project's pad-and-resize convention.
``genie train upscaler --data STORE --out RUN`` trains it (``genie_gym.trainers.tasks``).
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import cv2
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from torch.utils.data import Dataset

from genie_gym.conventions import FRAME_SIZE
from genie_gym.data.store import EpisodeStore, read_meta
from genie_gym.models.checkpoint_io import PretrainedMixin, load_pretrained, resolve_model_checkpoint
from genie_gym.models.configs import _ConfigBase, read_config_file

UPSCALER_KIND = "upscaler"
SHIPPED_UPSCALERS: dict[str, str] = {"smb": "upscaler-smb"}
"""Game (lower case) -> the shipped upscaler's folder under the checkpoints root (next to the world model)."""


@dataclass
class UpscalerConfig(_ConfigBase):
    """Architecture of the super-resolution U-Net (no training settings: those are ``genie train``'s options).

    Attributes:
        input_size: side of the input frames (64, the world model's frames).
        scale: output side / input side; a power of 2 (4: 64 -> 256).
        channels: feature width of each U-Net level, from the input resolution down (each level halves the side).
        bottleneck: width of the lowest level, below the last of ``channels`` (0: no extra level).
        convs_per_level: 3x3 convolutions per level, on the way down and again on the way up.
        head_channels: width of each x2 pixel-shuffle stage of the head (at most ``log2(scale)`` of them), from
            the U-Net's output up; a last convolution makes the ``3 r^2`` channels that one pixel shuffle turns into
            the full-resolution residual (``r``: the factor the stages left, 1 when there are ``log2(scale)``). Fewer
            stages are much cheaper: a convolution at 256x256 costs 16x one at 64x64.
    """

    model_kind: ClassVar[str] = UPSCALER_KIND

    input_size: int = FRAME_SIZE
    scale: int = 4
    channels: tuple[int, ...] = (64, 128, 256, 512)
    bottleneck: int = 1024
    convs_per_level: int = 2
    head_channels: tuple[int, ...] = (64, 32)

    def __post_init__(self) -> None:
        self.channels = tuple(int(c) for c in self.channels)  # JSON gives lists
        self.head_channels = tuple(int(c) for c in self.head_channels)
        if self.scale < 2 or self.scale & (self.scale - 1):
            raise ValueError(f"UpscalerConfig.scale must be a power of 2 >= 2, got {self.scale}")
        stages = int(math.log2(self.scale))
        if len(self.head_channels) > stages:
            raise ValueError(f"UpscalerConfig.head_channels holds at most one width per x2 stage, log2(scale) = "
                             f"{stages}; got {list(self.head_channels)}")
        if not self.channels or min(self.channels) < 1 or min(self.head_channels, default=1) < 1 or self.bottleneck < 0:
            raise ValueError("UpscalerConfig.channels and head_channels must be positive widths and bottleneck >= 0, "
                             f"got {list(self.channels)}, {list(self.head_channels)}, {self.bottleneck}")
        if self.convs_per_level < 1:
            raise ValueError(f"UpscalerConfig.convs_per_level must be >= 1, got {self.convs_per_level}")
        levels = len(self.channels) - 1 + (self.bottleneck > 0)
        if self.input_size % (2**levels):
            raise ValueError(f"UpscalerConfig.input_size {self.input_size} must be divisible by 2^{levels} "
                             f"(one halving per level below the first)")

    @property
    def output_size(self) -> int:
        """Side of the output frames (256)."""
        return self.input_size * self.scale


# Parameter counts of the presets: docs/DESIGN.md §5.10. "small" was chosen by measurement on the 2-core CPU
# (docs/EXPERIMENTS.md#the-small-preset-how-its-sizes-were-chosen): convolutions at 256x256 dominate the cost, so the
# U-Net stays at 64x64 and one x4 pixel shuffle makes the 256x256 residual.
UPSCALER_PRESETS: dict[str, dict[str, Any]] = {
    "paper": {},
    "paper-large": {"channels": [128, 256, 512, 1024], "bottleneck": 2048, "head_channels": [128, 64]},
    "small": {"channels": [32, 64, 96], "bottleneck": 0, "convs_per_level": 2, "head_channels": []},
    "tiny": {"channels": [8, 16], "bottleneck": 0, "convs_per_level": 1, "head_channels": []},  # tests
}


def get_upscaler_config(name_or_path: str | os.PathLike = "small") -> UpscalerConfig:
    """The preset ``name`` (``small``, ``paper``, ``paper-large``, ``tiny``) or a JSON file: the config's fields or a
    checkpoint's ``config.json`` of an upscaler."""
    name = str(name_or_path)
    if name in UPSCALER_PRESETS:
        return UpscalerConfig.from_dict(dict(UPSCALER_PRESETS[name]))
    values, _ = read_config_file(UPSCALER_KIND, name, UPSCALER_PRESETS)
    return UpscalerConfig.from_dict(values)


def frames_to_input(frames: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 ``(..., H, W, 3)`` frames -> float ``(N, 3, H, W)`` in ``[0, 1]``."""
    frames = torch.as_tensor(frames)
    return frames.reshape(-1, *frames.shape[-3:]).permute(0, 3, 1, 2).float().div(255.0)


def bicubic(images: torch.Tensor, size: int) -> torch.Tensor:
    """Bicubic resize of float ``(N, 3, H, W)`` images to ``size x size`` (torch's, a = -0.75, pixel centres aligned
    as in ``cv2.resize``), not clamped. The baseline every upscaler number is compared with."""
    return F.interpolate(images, size=(size, size), mode="bicubic", align_corners=False)


def _conv_stack(in_channels: int, out_channels: int, count: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    for i in range(count):
        layers += [nn.Conv2d(in_channels if i == 0 else out_channels, out_channels, 3, padding=1), nn.SiLU()]
    return nn.Sequential(*layers)


class Upscaler(PretrainedMixin, nn.Module):
    """The super-resolution U-Net (see the module docstring). ``forward``: float ``(N, 3, 64, 64)`` in ``[0, 1]``
    -> float ``(N, 3, 256, 256)`` (not clamped); :meth:`upscale` works on uint8 frames."""

    model_kind: ClassVar[str] = UPSCALER_KIND
    config_class: ClassVar[type] = UpscalerConfig

    def __init__(self, config: UpscalerConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or UpscalerConfig()
        widths = list(config.channels) + ([config.bottleneck] if config.bottleneck else [])
        self.stem = _conv_stack(3, widths[0], config.convs_per_level)
        self.down = nn.ModuleList(
            _conv_stack(widths[i], widths[i + 1], config.convs_per_level) for i in range(len(widths) - 1)
        )
        # up[i] takes level i+1's output, upsampled, concatenated with level i's skip, to level i's width
        self.up_sample = nn.ModuleList(
            nn.ConvTranspose2d(widths[i + 1], widths[i], 2, stride=2) for i in range(len(widths) - 1)
        )
        self.up = nn.ModuleList(
            _conv_stack(2 * widths[i], widths[i], config.convs_per_level) for i in range(len(widths) - 1)
        )
        head: list[nn.Module] = []
        width = widths[0]
        for out in config.head_channels:
            head += [nn.Conv2d(width, 4 * out, 3, padding=1), nn.PixelShuffle(2), nn.SiLU()]
            width = out
        self.head = nn.Sequential(*head)
        factor = config.scale // 2 ** len(config.head_channels)
        self.out = nn.Sequential(nn.Conv2d(width, 3 * factor**2, 3, padding=1), nn.PixelShuffle(factor))
        # zero-initialised last layer: the untrained model is exactly bicubic (the residual starts at 0)
        nn.init.zeros_(self.out[0].weight)
        nn.init.zeros_(self.out[0].bias)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        size = self.config.input_size
        if images.ndim != 4 or images.shape[1:] != (3, size, size):
            raise ValueError(f"Upscaler expects float images (N, 3, {size}, {size}) in [0, 1], got "
                             f"{tuple(images.shape)}; uint8 frames (..., {size}, {size}, 3) go through upscale()")
        x = self.stem(images * 2.0 - 1.0)
        skips = []
        for block in self.down:
            skips.append(x)
            x = block(F.max_pool2d(x, 2))
        for i in reversed(range(len(self.up))):
            x = self.up[i](torch.cat([self.up_sample[i](x), skips[i]], dim=1))
        residual = self.out(self.head(x))
        return bicubic(images, self.config.output_size) + residual

    def compute_loss(self, batch: dict[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, float]]:
        """MSE at 256x256 between the upscaled ``batch["low"]`` (uint8 ``(B, 64, 64, 3)``) and ``batch["high"]``
        (uint8 ``(B, 256, 256, 3)``); metrics: the same for bicubic, and both PSNRs (dB, over the batch's MSE)."""
        low, target = frames_to_input(batch["low"]), frames_to_input(batch["high"])
        prediction = self(low)
        loss = F.mse_loss(prediction.float(), target)
        with torch.no_grad():
            base = F.mse_loss(bicubic(low, self.config.output_size).clamp(0, 1), target)
        mse = float(loss.detach())
        return loss, {"mse": mse, "bicubic_mse": float(base), "psnr": _psnr(mse), "bicubic_psnr": _psnr(float(base))}

    @torch.no_grad()
    def upscale(self, frames: np.ndarray | torch.Tensor) -> np.ndarray:
        """uint8 frames ``(..., 64, 64, 3)`` -> uint8 ``(..., 256, 256, 3)`` (rounded, clamped), without gradients."""
        frames = np.asarray(frames)
        if not frames.flags.writeable or not frames.flags.c_contiguous:  # a memory map: torch wants its own copy
            frames = np.array(frames)
        device = next(self.parameters()).device
        images = self(frames_to_input(torch.from_numpy(frames)).to(device))
        return float_to_uint8(images).reshape(*frames.shape[:-3], *images.shape[-2:], 3)


def float_to_uint8(images: torch.Tensor) -> np.ndarray:
    """float ``(N, 3, H, W)`` in ``[0, 1]`` -> uint8 ``(N, H, W, 3)`` (clamped, rounded)."""
    return images.clamp(0, 1).mul(255.0).round().to(torch.uint8).permute(0, 2, 3, 1).cpu().numpy()


def _psnr(mse: float) -> float:
    return float(10.0 * math.log10(1.0 / max(mse, 1e-12)))


def psnr(mse: float) -> float:
    """PSNR in dB of images in ``[0, 1]`` with mean squared error ``mse``."""
    return _psnr(mse)


class HiresPairDataset(Dataset):
    """``(64x64 frame, 256x256 frame)`` pairs of every frame of a store's episodes that have hires frames.

    Items: ``{"low": uint8 tensor (64, 64, 3), "high": uint8 tensor (S, S, 3)}``. Arrays are memory-mapped lazily per
    process (DataLoader workers are safe). Raises ``ValueError`` when no episode of the split has hires frames, naming
    the command that collects them.
    """

    def __init__(self, store_dir: str | os.PathLike, split: str = "train", games: list[str] | None = None,
                 size: int = 256) -> None:
        self.store = EpisodeStore(store_dir)
        self.split = split
        self.size = int(size)
        self.refs = []
        lengths = []
        without = 0
        for ref in self.store.episodes(games, split):
            values = read_meta(ref.meta_path)
            if values.get("hires_size") != self.size:
                without += 1
                continue
            self.refs.append(ref)
            lengths.append(int(values["length"]))
        if not self.refs:
            raise ValueError(
                f"{store_dir} has no {split} episode with {self.size}x{self.size} frames ({without} without): collect "
                f"them with `genie collect --env GAME --hires --out DIR` and train on DIR"
            )
        self.skipped = without
        self.offsets = np.concatenate([[0], np.cumsum(lengths)])
        self._arrays: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._pid = os.getpid()

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def _episode(self, i: int) -> tuple[np.ndarray, np.ndarray]:
        if os.getpid() != self._pid:  # a forked worker opens its own maps
            self._arrays, self._pid = {}, os.getpid()
        if i not in self._arrays:
            ref = self.refs[i]
            self._arrays[i] = (np.load(ref.frames_path, mmap_mode="r"), np.load(ref.hires_path, mmap_mode="r"))
        return self._arrays[i]

    def __getitem__(self, index: int) -> dict[str, torch.Tensor]:
        episode = int(np.searchsorted(self.offsets, index, side="right") - 1)
        low, high = self._episode(episode)
        t = int(index - self.offsets[episode])
        return {"low": torch.from_numpy(np.array(low[t])), "high": torch.from_numpy(np.array(high[t]))}

    def __getstate__(self) -> dict[str, Any]:
        return {**self.__dict__, "_arrays": {}}


def shipped_upscaler_dir(game: str = "SMB") -> Path | None:
    """The shipped upscaler of ``game`` (``checkpoints/upscaler-smb``, found where the shipped world model is:
    ``genie_gym.world_model.checkpoint_search_paths``), or ``None`` when it is not installed."""
    from genie_gym.world_model import checkpoint_search_paths  # imported here: the world model imports models

    name = SHIPPED_UPSCALERS.get(str(game).lower())
    if name is None:
        return None
    for root in checkpoint_search_paths():
        if (root / name / "config.json").is_file():
            return root / name
    return None


class FrameUpscaler:
    """Turns 64x64 frames into ``size x size`` ones: with a trained :class:`Upscaler` when there is one, else
    bicubic. What ``genie play --upscale``, the dream envs' ``render()`` at ``render_size=256`` and recordings use.

    Args:
        size: output side (256 is the upscaler's own; other sizes resize its output, ``INTER_AREA`` to shrink,
            ``INTER_LINEAR`` to enlarge).
        model: a loaded :class:`Upscaler`, or ``None`` for bicubic.
    """

    def __init__(self, size: int = 256, model: Upscaler | None = None) -> None:
        if int(size) < FRAME_SIZE:
            raise ValueError(f"render size must be >= {FRAME_SIZE} (the dream's frames), got {size}")
        self.size = int(size)
        self.model = None if model is None else model.eval()
        self.source = "bicubic" if model is None else "upscaler"

    @classmethod
    def load(cls, spec: str | os.PathLike | None = "auto", game: str = "SMB", size: int = 256,
             device: str | torch.device = "cpu") -> FrameUpscaler:
        """``spec``: ``"auto"`` (the game's shipped upscaler if installed, else bicubic), ``"bicubic"`` / ``None``,
        or a checkpoint directory (a ``genie train upscaler`` run's checkpoint, or ``checkpoints/upscaler-smb``)."""
        if spec is None or str(spec) == "bicubic":
            return cls(size)
        if str(spec) == "auto":
            directory = shipped_upscaler_dir(game)
            if directory is None:
                return cls(size)
        else:
            directory = _resolve_upscaler_dir(Path(spec))
        model = load_pretrained(directory, expected_kind=UPSCALER_KIND, map_location=device)
        upscaler = cls(size, model)
        upscaler.source = str(directory)
        return upscaler

    def __call__(self, frames: np.ndarray) -> np.ndarray:
        """uint8 ``(..., 64, 64, 3)`` -> uint8 ``(..., size, size, 3)``."""
        frames = np.asarray(frames)
        if frames.dtype != np.uint8 or frames.shape[-3:] != (FRAME_SIZE, FRAME_SIZE, 3):
            raise ValueError(f"frames must be uint8 (..., {FRAME_SIZE}, {FRAME_SIZE}, 3), got {frames.dtype} "
                             f"{frames.shape}")
        if self.size == FRAME_SIZE:
            return frames.copy()
        lead = frames.shape[:-3]
        flat = frames.reshape(-1, FRAME_SIZE, FRAME_SIZE, 3)
        if self.model is not None:
            out = self.model.upscale(flat)
        else:
            with torch.no_grad():
                out = float_to_uint8(bicubic(frames_to_input(flat), self.size))
        if out.shape[1] != self.size:  # area averaging to shrink, linear to enlarge (the play window's 384)
            method = cv2.INTER_AREA if out.shape[1] > self.size else cv2.INTER_LINEAR
            out = np.stack([cv2.resize(f, (self.size, self.size), interpolation=method) for f in out])
        return out.reshape(*lead, self.size, self.size, 3)


def render_upscaler(render_size: int | None, upscaler: str | os.PathLike | None, game: str,
                    device: str | torch.device = "cpu") -> FrameUpscaler | None:
    """What a dream env's ``render()`` draws with: ``None`` for the dream's own 64x64 frames (``render_size`` 64 or
    ``None``), else a :class:`FrameUpscaler` to ``render_size`` (``upscaler``: see :meth:`FrameUpscaler.load`; the
    default ``"auto"`` is the game's shipped upscaler, bicubic without one). Loaded when the env is made, so a bad
    path fails there, not at the first frame."""
    if render_size is None or int(render_size) == FRAME_SIZE:
        return None
    if isinstance(render_size, bool) or not isinstance(render_size, int | np.integer):
        raise ValueError(f"render_size must be an int (64: the dream's frames, 256: upscaled), got {render_size!r}")
    if render_size < FRAME_SIZE:
        raise ValueError(f"render_size must be >= {FRAME_SIZE} (the dream's frames), got {render_size}")
    return FrameUpscaler.load(upscaler, game=game, size=int(render_size), device=device)


def _resolve_upscaler_dir(path: Path) -> Path:
    """A checkpoint directory, or a ``genie train upscaler`` run: the checkpoint its ``latest`` pointer names, else
    its newest ``checkpoints/step_*`` (:func:`~genie_gym.models.checkpoint_io.resolve_model_checkpoint`)."""
    try:
        return resolve_model_checkpoint(path)
    except FileNotFoundError:
        raise FileNotFoundError(f"{path} holds no upscaler checkpoint (no config.json, no checkpoints/step_*): pass "
                                "checkpoints/upscaler-smb, a run directory of `genie train upscaler`, or 'bicubic'"
                                ) from None


__all__ = [
    "FrameUpscaler",
    "HiresPairDataset",
    "UPSCALER_PRESETS",
    "Upscaler",
    "UpscalerConfig",
    "bicubic",
    "get_upscaler_config",
    "psnr",
    "shipped_upscaler_dir",
]
