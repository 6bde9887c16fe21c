"""The reference optimiser (docs/DESIGN.md §5.9): AdamW, betas (0.9, 0.99), weight decay only on matrices, grad
clipping.

Weight decay applies to parameters with ``ndim >= 2`` (linear and conv weights, embedding tables, codebooks); biases,
norm gains and other vectors are not decayed.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass

import torch
from torch import nn

from genie_gym.options import option


@dataclass
class OptimizerSettings:
    """Hyper-parameters of :func:`build_optimizer` (peak learning rate, Adam betas, decoupled weight decay) and of
    :func:`clip_gradients`; the reference values are the defaults."""

    lr: float = option(1e-4, "peak learning rate (default %(default)s)")
    betas: tuple[float, float] = (0.9, 0.99)
    weight_decay: float = option(1e-4, "AdamW decay on matrices")
    grad_clip: float = option(10.0, "global grad-norm clip (0: off)")

    def __post_init__(self) -> None:
        if self.lr <= 0:
            raise ValueError(f"--lr must be > 0, got {self.lr}")

    def to_dict(self) -> dict:
        """JSON-ready copy of the settings."""
        return asdict(self)


def weight_decay_groups(model: nn.Module, weight_decay: float) -> list[dict]:
    """Two AdamW parameter groups: trainable params with ``ndim >= 2`` (decayed) and the rest (``weight_decay=0``).

    Each group also carries ``"names"`` (the parameter names) so the split can be inspected and tested.
    """
    decay: list[tuple[str, nn.Parameter]] = []
    no_decay: list[tuple[str, nn.Parameter]] = []
    for name, param in model.named_parameters():
        if not param.requires_grad:
            continue
        (decay if param.ndim >= 2 else no_decay).append((name, param))
    groups = [
        {"params": [p for _, p in decay], "names": [n for n, _ in decay], "weight_decay": weight_decay},
        {"params": [p for _, p in no_decay], "names": [n for n, _ in no_decay], "weight_decay": 0.0},
    ]
    return [group for group in groups if group["params"]]


def build_optimizer(model: nn.Module, settings: OptimizerSettings | None = None) -> torch.optim.AdamW:
    """AdamW over ``model``'s trainable parameters with :func:`weight_decay_groups` (fused kernel where available)."""
    settings = settings or OptimizerSettings()
    groups = weight_decay_groups(model, settings.weight_decay)
    if not groups:
        raise ValueError(f"{type(model).__name__} has no trainable parameters")
    device_type = groups[0]["params"][0].device.type
    fused = device_type in ("cpu", "cuda")
    return torch.optim.AdamW(groups, lr=settings.lr, betas=tuple(settings.betas), fused=fused)


def clip_gradients(parameters: Iterable[nn.Parameter], max_norm: float = OptimizerSettings.grad_clip) -> float:
    """Clip the global L2 norm of the gradients to ``max_norm`` (``<= 0`` disables); return the norm before clipping."""
    params = [p for p in parameters if p.grad is not None]
    if not params:
        return 0.0
    if max_norm <= 0:
        norm = torch.linalg.vector_norm(torch.stack([torch.linalg.vector_norm(p.grad) for p in params]))
    else:
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return float(norm)
