"""A player who holds one key: does the dream keep Mario, and does RIGHT still scroll it afterwards?

Issue 35's bar: "holding any single action for 300 steps, Mario stays visible in >= 95% of frames, and RIGHT
afterwards scrolls the dream" (the issue saw the dreamed Mario lost within ~25 steps of UP, what ``genie play``
sends with no key pressed, on some seeds). For each seed and each held action the dream starts from the real game's
reset (its first ``CONTEXT`` real frames, the action held between them: the context size the other probes use), holds
the action for ``--steps`` dreamed steps, then holds RIGHT for ``--right-steps``. Printed per action, over the seeds:

- ``mario held``: the fraction of the held steps' frames where the Mario detector
  (:mod:`genie_gym.probes.mario`) finds him (mean and the worst seed), and in how many seeds he was lost for good
  (not found in the last 10 held frames);
- ``mario right``: the same over the RIGHT steps (does RIGHT bring him back?);
- ``right scroll``: how far the dream scrolled during the RIGHT steps (the sum of the frame-to-frame shifts of its
  ground band, ``genie_gym.metrics.camera_shift``, at most 8 px per step; pixels of the 64-wide frame);
- the same for the real game (seed 0 of the real emulator), for reference: the real Mario can die (a goomba holding
  RIGHT), and then the intro screens count as frames without him.

All dreams (actions x seeds) step together as one batch. The defaults (5 actions x 2 seeds x 350 steps at
dream.json's 8 MaskGIT steps) took 29 min on the 2-core VM next to other training; ``--set maskgit_steps=N``,
``--actions`` and ``--steps`` make it shorter.

    genie probe hold-action                                   # shipped model, 2 seeds, 300 + 50 steps
    genie probe hold-action --actions UP RIGHT --seeds 4 --set maskgit_steps=4
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import numpy as np
import torch

from genie_gym.conventions import ACTION_NAMES
from genie_gym.envs.retro_env import GenieRetroEnv
from genie_gym.metrics import camera_shift
from genie_gym.models.configs import DreamSettings
from genie_gym.options import from_args, option
from genie_gym.probes import apply_dream_overrides, dream_overrides_option, parse_dream_overrides
from genie_gym.probes.long_dream import CONTEXT
from genie_gym.probes.mario import shared_detector
from genie_gym.world_model import WorldModel

RIGHT = ACTION_NAMES.index("RIGHT")
LOST_TAIL = 10  # frames at the end of the hold that decide "lost for good"
BAR = 0.95


@dataclass(kw_only=True)
class HoldActionSettings:
    """The options of ``genie probe hold-action`` (the ``--set`` overrides checked as the settings are built)."""

    checkpoint: str = option("smb")
    actions: list[str] = option(default_factory=lambda: list(ACTION_NAMES), help="actions to hold (default: all five)",
                                choices=ACTION_NAMES)
    seeds: int = option(2, "runs per action, from the real resets of seeds 0, 1, ... (the batch samples with seed 0)")
    steps: int = option(300, "dreamed steps holding the action")
    right_steps: int = option(50, "dreamed steps of RIGHT afterwards")
    dream_overrides: list[str] = dream_overrides_option()
    overrides: dict[str, object] = field(init=False)
    """``dream_overrides`` read and checked (:func:`genie_gym.probes.parse_dream_overrides`)."""

    def __post_init__(self) -> None:
        self.overrides = parse_dream_overrides(self.dream_overrides)


def real_contexts(game: str, actions: list[int], seeds: int) -> tuple[np.ndarray, np.ndarray]:
    """The real game's first ``CONTEXT`` frames after ``reset(seed)``, the action held between them, for every
    (seed, action): ``(frames uint8 (S * A, CONTEXT, 64, 64, 3), actions int64 (S * A, CONTEXT - 1))``."""
    frames, taken = [], []
    env = GenieRetroEnv(game)
    try:
        for seed in range(seeds):
            for action in actions:
                obs, _ = env.reset(seed=seed)
                context = [obs] + [env.step(action)[0] for _ in range(CONTEXT - 1)]
                frames.append(np.stack(context))
                taken.append([action] * (CONTEXT - 1))
    finally:
        env.close()
    return np.stack(frames), np.asarray(taken, dtype=np.int64)


def real_hold(game: str, action: int, steps: int, right_steps: int) -> np.ndarray:
    """The real game's frames ``(1 + steps + right_steps, 64, 64, 3)`` from ``reset(seed=0)``, holding ``action``,
    then RIGHT (on through a lost life: the intro screens are frames without Mario)."""
    env = GenieRetroEnv(game)
    try:
        obs, _ = env.reset(seed=0)
        frames = [obs]
        for t in range(steps + right_steps):
            obs, _, terminated, _, _ = env.step(action if t < steps else RIGHT)
            frames.append(obs)
            if terminated:  # game over: the rest are frames without Mario
                frames += [np.zeros_like(obs)] * (steps + right_steps - t - 1)
                break
    finally:
        env.close()
    return np.stack(frames)


def dream_holds(world_model: WorldModel, context: tuple[np.ndarray, np.ndarray], steps: int, right_steps: int,
                sampling: DreamSettings, seed: int) -> np.ndarray:
    """Every dream of the batch holds its context's action for ``steps`` steps, then RIGHT for ``right_steps``:
    frames uint8 ``(B, 1 + steps + right_steps, 64, 64, 3)``, the last real context frame first."""
    frames, taken = context
    state = world_model.start(frames, taken)
    generator = torch.Generator(world_model.device).manual_seed(seed)
    dreamed = [frames[:, -1]]
    for t in range(steps + right_steps):
        actions = taken[:, -1] if t < steps else np.full(len(taken), RIGHT)
        frame, _ = world_model.step(state, actions, sampling, generator)
        dreamed.append(frame)
    return np.stack(dreamed, axis=1)


def measures(frames: np.ndarray, steps: int) -> tuple[float, bool, float, float]:
    """Of one run's frames ``(1 + steps + R, 64, 64, 3)``: ``(Mario's visible fraction over the held steps, lost for
    good at the end of the hold, visible fraction over the RIGHT steps, scroll (px) over the RIGHT steps)``."""
    seen = shared_detector().visible(frames[1:])
    held, right = seen[:steps], seen[steps:]
    scroll = sum(camera_shift(a, b, 8) for a, b in zip(frames[steps:-1], frames[steps + 1 :], strict=True))
    return (float(held.mean()), not held[-LOST_TAIL:].any(), float(right.mean()) if len(right) else float("nan"),
            float(scroll))


def run(args: argparse.Namespace) -> int:
    """Dream every (seed, action) hold, measure Mario and the scroll, print one row per action."""
    settings = from_args(HoldActionSettings, args)
    world_model = WorldModel.from_pretrained(settings.checkpoint)
    apply_dream_overrides(world_model, settings.overrides)
    sampling = world_model.dream_settings()
    game = str(world_model.settings["game"])
    actions = [ACTION_NAMES.index(name) for name in settings.actions]
    context = real_contexts(game, actions, settings.seeds)
    dreams = dream_holds(world_model, context, settings.steps, settings.right_steps, sampling, seed=0)
    print(f"world model {settings.checkpoint}, {sampling.maskgit_steps} MaskGIT steps, temperature "
          f"{sampling.temperature:g}, action guidance {sampling.action_guidance:g}"
          f"{''.join(f', {key} {value}' for key, value in settings.overrides.items())}; {settings.seeds} seed(s), "
          f"{settings.steps} steps held, then {settings.right_steps} of RIGHT; bar: Mario in >= {BAR:.0%} of the held "
          "frames and a scroll after")
    print(f"{'action':<6} {'':<6} {'mario held':>10} {'worst seed':>10} {'lost':>5} {'mario right':>11} "
          f"{'right scroll':>12} {'bar':>4}")
    for a, action in enumerate(actions):
        rows = np.asarray([measures(dreams[seed * len(actions) + a], settings.steps) for seed in range(settings.seeds)])
        real = measures(real_hold(game, action, settings.steps, settings.right_steps), settings.steps)
        meets = rows[:, 0].min() >= BAR and rows[:, 3].min() > 0
        print(f"{ACTION_NAMES[action]:<6} {'dream':<6} {rows[:, 0].mean():>10.1%} {rows[:, 0].min():>10.1%} "
              f"{int(rows[:, 1].sum()):>5} {np.nanmean(rows[:, 2]):>11.1%} {rows[:, 3].mean():>9.0f} px "
              f"{'yes' if meets else 'no':>4}")
        print(f"{'':<6} {'real':<6} {real[0]:>10.1%} {'':>10} {int(real[1]):>5} {real[2]:>11.1%} "
              f"{real[3]:>9.0f} px", flush=True)
    return 0
