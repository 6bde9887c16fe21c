"""Play the dream from its reset like a person would: how far does the camera go, against the real game?

The scripts hold RIGHT (or RIGHT with jumps, or RIGHT with a short DOWN). Each starts at the level's first screen
(the dream's default reset) and runs ``--steps`` steps; every 10 steps it prints the camera's distance so far in
pixels of the 64-wide frame, the sum of the frame-to-frame shifts of the ground band
(``genie_gym.metrics.camera_shift``, at most 8 px per step), once for the real game and once per dream seed. A dream
that cannot start the scroll from a standstill stays at 0. (The real game's camera stops at 1-1's first pipe, ~50 px,
where these scripts leave Mario blocked within 60 steps.) The dream takes dream.json's settings; ``--set KEY=VALUE``
changes any of them but the game.

    genie probe hold-from-start                               # shipped model, seeds 0-3, dream.json's sampler
    genie probe hold-from-start --checkpoint runs/my_world_model --seeds 8 --set maskgit_steps=1
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass, field

import gymnasium as gym
import numpy as np

from genie_gym.conventions import ACTION_NAMES
from genie_gym.metrics import camera_shift
from genie_gym.options import from_args, option
from genie_gym.probes import dream_overrides_option, parse_dream_overrides
from genie_gym.probes.control import FIXED_KEYS, make_dream, real_smb

RIGHT, DOWN, JUMP = (ACTION_NAMES.index(name) for name in ("RIGHT", "DOWN", "JUMP"))

SCRIPTS: dict[str, Callable[[int], int]] = {
    "RIGHT": lambda t: RIGHT,
    "RIGHT, JUMP on steps 4-7 of every 8": lambda t: JUMP if t % 8 >= 4 else RIGHT,
    "RIGHT, DOWN on steps 30-33": lambda t: DOWN if 30 <= t < 34 else RIGHT,
}


def camera_trace(env: gym.Env, script: Callable[[int], int], steps: int, seed: int, every: int = 10) -> list[int]:
    """Camera distance (pixels) after every ``every`` steps of ``script`` (step index -> action) from a reset."""
    previous, _ = env.reset(seed=seed)
    total, trace = 0, []
    for t in range(steps):
        frame, _, terminated, truncated, _ = env.step(script(t))
        total += camera_shift(previous, frame, 8)
        previous = frame
        if (t + 1) % every == 0:
            trace.append(total)
        if terminated or truncated:
            break
    return trace


@dataclass(kw_only=True)
class HoldFromStartSettings:
    """The options of ``genie probe hold-from-start`` (the ``--set`` overrides checked as the settings are built)."""

    checkpoint: str | None = option(None, "world-model directory (default: the shipped SMB model)")
    seeds: int = option(4, "dream seeds 0, 1, ...")
    steps: int = option(60)
    dream_overrides: list[str] = dream_overrides_option()
    overrides: dict[str, object] = field(init=False)
    """``dream_overrides`` read and checked (:func:`genie_gym.probes.parse_dream_overrides`)."""

    def __post_init__(self) -> None:
        self.overrides = parse_dream_overrides(self.dream_overrides, FIXED_KEYS)


def run(args: argparse.Namespace) -> int:
    """Play each script in the real game and in the dream, print the camera traces."""
    settings = from_args(HoldFromStartSettings, args)
    dream = make_dream(settings.checkpoint, settings.overrides)
    steps, seeds = settings.steps, settings.seeds
    print(f"{dream.spec.id}, {dream.unwrapped.maskgit_steps} MaskGIT step(s), action guidance "
          f"{dream.unwrapped.action_guidance:g}; camera distance (px) after steps 10, 20, ..., {steps}")
    try:
        with real_smb() as real:
            for name, script in SCRIPTS.items():
                print(name)
                print(f"  {'real game':<12}" + " ".join(f"{v:>4}" for v in camera_trace(real, script, steps, 0)))
                finals = []
                for seed in range(seeds):
                    trace = camera_trace(dream, script, steps, seed)
                    finals.append(trace[-1] if trace else 0)
                    print(f"  {f'dream {seed}':<12}" + " ".join(f"{v:>4}" for v in trace))
                moving = int((np.array(finals) > 0).sum())
                print(f"  the dreamed camera moved in {moving} of {seeds} dreams, mean {np.mean(finals):.0f} px")
    finally:
        dream.close()
    return 0
