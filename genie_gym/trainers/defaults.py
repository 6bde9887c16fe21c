"""The reference optimiser settings (docs/DESIGN.md §5.9), importable without torch (the CLI reads them for its
help)."""

from __future__ import annotations

DEFAULT_LR: float = 1e-4
DEFAULT_BETAS: tuple[float, float] = (0.9, 0.99)
DEFAULT_WEIGHT_DECAY: float = 1e-4
DEFAULT_GRAD_CLIP: float = 10.0
REFERENCE_WARMUP_STEPS: int = 5000
WARMUP_START_FACTOR: float = 0.5
MIN_LR_RATIO: float = 0.5
