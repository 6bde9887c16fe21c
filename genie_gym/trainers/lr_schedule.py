"""Learning-rate schedule: linear warm-up from a fraction of the peak, then cosine annealing to a floor.

This is the reference GenieRedux schedule (paper appendix A, Tab. 10; docs/DESIGN.md §5.9): the factor applied to
the peak learning rate starts at ``start_factor`` (0.5) at step 0, rises linearly to 1.0 at ``warmup_steps``, then
follows a half cosine down to ``min_ratio`` (5e-5 / 1e-4 = 0.5) at ``total_steps``.

The reference warms up over 5,000 steps. A short run (a smoke test, a CPU run of a few hundred steps) would never
leave the warm-up, so :func:`default_warmup_steps` scales it down to a tenth of the run: ``min(5000, steps // 10)``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from torch.optim import Optimizer
from torch.optim.lr_scheduler import LambdaLR

from genie_gym.options import option

REFERENCE_WARMUP_STEPS = 5000


@dataclass
class ScheduleSettings:
    """The shape of the schedule; the reference values are the defaults. ``warmup_steps=None`` means
    :func:`default_warmup_steps` of the run's length."""

    warmup_steps: int | None = option(
        None, f"linear warm-up from 0.5*lr (default min({REFERENCE_WARMUP_STEPS}, steps // 10))"
    )
    warmup_start_factor: float = 0.5
    min_lr_ratio: float = option(0.5, "cosine floor as a fraction of --lr (default %(default)s: 1e-4 -> 5e-5)")


def default_warmup_steps(total_steps: int) -> int:
    """Warm-up length for a run of ``total_steps`` optimizer steps: ``min(5000, total_steps // 10)``."""
    return min(REFERENCE_WARMUP_STEPS, max(0, int(total_steps)) // 10)


def warmup_cosine_factor(
    step: int,
    total_steps: int,
    warmup_steps: int,
    start_factor: float = ScheduleSettings.warmup_start_factor,
    min_ratio: float = ScheduleSettings.min_lr_ratio,
) -> float:
    """Multiplier of the peak learning rate at optimizer step ``step`` (0-based).

    ``start_factor`` at step 0, linear to 1.0 at ``warmup_steps``, cosine from 1.0 to ``min_ratio`` at
    ``total_steps`` (and ``min_ratio`` after it).
    """
    if step < warmup_steps:
        return start_factor + (1.0 - start_factor) * step / warmup_steps
    decay_steps = max(1, total_steps - warmup_steps)
    progress = min(1.0, (step - warmup_steps) / decay_steps)
    return min_ratio + (1.0 - min_ratio) * 0.5 * (1.0 + math.cos(math.pi * progress))


def build_scheduler(
    optimizer: Optimizer,
    total_steps: int,
    warmup_steps: int | None = None,
    start_factor: float = ScheduleSettings.warmup_start_factor,
    min_ratio: float = ScheduleSettings.min_lr_ratio,
) -> LambdaLR:
    """A ``LambdaLR`` applying :func:`warmup_cosine_factor`; call ``scheduler.step()`` once per optimizer step.

    ``warmup_steps=None`` uses :func:`default_warmup_steps`.
    """
    warmup = default_warmup_steps(total_steps) if warmup_steps is None else int(warmup_steps)
    if total_steps < 1 or warmup < 0:
        raise ValueError(f"need total_steps >= 1 and warmup_steps >= 0, got {total_steps} and {warmup}")

    def factor(step: int) -> float:
        return warmup_cosine_factor(step, total_steps, warmup, start_factor, min_ratio)

    return LambdaLR(optimizer, factor)
