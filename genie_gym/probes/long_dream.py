"""Long dreams against the real game: does the dream keep going forward, or drift back to the first screen?

For each seed the real game plays an agent (default: a noisy RIGHT + JUMP runner that gets past 1-1's first pipes)
for ``--steps`` steps or until Mario loses a life; a dream starts from the real game's frames at step
``--dream-from`` and takes the same actions. At a few moments ``t`` it prints, averaged over the runs still going
at ``t``:

- ``dream vs real``: PSNR of the dreamed frame against the real frame of the same step;
- ``dream vs start`` / ``real vs start``: PSNR of each against the real first frame (the level's first screen); a
  dream that drifts back to the first screen gets closer to it while the real game moves away;
- ``real camera``: how far the real camera has moved (``xscrollHi * 256 + xscrollLo`` / 4: pixels of the 64-wide
  frame), and ``dream scroll``: the same read off the dream, the sum of the frame-to-frame shifts of its ground band
  (``genie_gym.metrics.camera_shift``, at most 8 px per step);
- ``mario dream`` / ``mario real``: the fraction of the dreamed (real) frames from the dream's start up to ``t``
  where the Mario detector (:mod:`genie_gym.probes.mario`) finds him; issue 35's bar for the dream is >= 95%.

    genie probe long-dream                          # shipped model, 4 seeds, 200 steps, dream.json's sampler
    genie probe long-dream --set maskgit_steps=1 --set action_guidance=1 --seeds 8
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass, field

import numpy as np
import torch

from genie_gym.agents.random_agent import RightBiasedStickyAgent, RunnerAgent
from genie_gym.allocator import keep_freed_memory_for_benchmark
from genie_gym.envs.retro_env import GenieRetroEnv, level_camera_x
from genie_gym.metrics import camera_shift, psnr_per_frame
from genie_gym.models.configs import DreamSettings
from genie_gym.options import from_args, option
from genie_gym.probes import apply_dream_overrides, dream_overrides_option, parse_dream_overrides
from genie_gym.probes.mario import shared_detector
from genie_gym.world_model import WorldModel

CONTEXT = 2  # real frames a dream starts from (dream.json's context_frames of the shipped model)


@dataclass(kw_only=True)
class LongDreamSettings:
    """The options of ``genie probe long-dream`` (the ``--set`` overrides checked as the settings are built)."""

    checkpoint: str = option("smb")
    seeds: int = option(4, "real runs (seeds 300, 301, ...)")
    steps: int = option(200)
    agent: str = option("runner", "who plays the real game (default: runner, RIGHT + JUMP 4 of every 8 steps, 10%% "
                                  "noise)", choices=("runner", "right-biased"))
    dream_from: int = option(12, "real steps before the dream takes over")
    moments: list[int] = option(default_factory=lambda: [25, 50, 100, 150, 200])
    dream_overrides: list[str] = dream_overrides_option()
    overrides: dict[str, object] = field(init=False)
    """``dream_overrides`` read and checked (:func:`genie_gym.probes.parse_dream_overrides`)."""

    def __post_init__(self) -> None:
        self.overrides = parse_dream_overrides(self.dream_overrides)


def make_agent(name: str, seed: int):
    """``"runner"`` (:class:`genie_gym.agents.random_agent.RunnerAgent`, noise 0.1) or ``"right-biased"`` (the
    data-collection agent)."""
    agent = RunnerAgent(noise=0.1) if name == "runner" else RightBiasedStickyAgent()
    agent.reset(seed)
    return agent


def real_run(env: GenieRetroEnv, agent, seed: int, steps: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(frames uint8 (T+1, 64, 64, 3), actions int64 (T,), camera px of the 64-wide frame (T+1,))`` of one run,
    shorter than ``steps`` if Mario loses a life (the level would restart)."""
    obs, info = env.reset(seed=seed)
    lives = info.get("lives")
    frames, actions, camera = [obs], [], [level_camera_x(info) / 4]
    for _ in range(steps):
        action = agent.act(obs)
        obs, _, terminated, truncated, info = env.step(action)
        if terminated or info.get("lives") != lives:
            break
        frames.append(obs)
        actions.append(action)
        camera.append(level_camera_x(info) / 4)
        if truncated:
            break
    return np.stack(frames), np.asarray(actions, dtype=np.int64), np.asarray(camera)


def dream_along(world_model: WorldModel, frames: np.ndarray, actions: np.ndarray, start: int,
                sampling: DreamSettings, seed: int) -> np.ndarray:
    """Dreamed frames uint8 ``(T - start, 64, 64, 3)`` for real steps ``start + 1 .. T``, from the real frames
    ``start - CONTEXT + 1 .. start`` and the real actions."""
    state = world_model.start(frames[None, start - CONTEXT + 1 : start + 1], actions[None, start - CONTEXT + 1 : start])
    generator = torch.Generator(world_model.device).manual_seed(seed)
    dreamed = []
    for t in range(start, len(actions)):
        frame, _ = world_model.step(state, actions[t : t + 1], sampling, generator)
        dreamed.append(frame[0])
    return np.stack(dreamed)


def psnr(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per-frame PSNR (dB) of uint8 ``(N, 64, 64, 3)`` against uint8 ``(N or 1, 64, 64, 3)``."""
    to_float = lambda x: torch.from_numpy(np.array(x)).permute(0, 3, 1, 2).float() / 255  # noqa: E731
    b = np.broadcast_to(b, a.shape)
    return psnr_per_frame(to_float(a), to_float(b)).numpy()


def run(args: argparse.Namespace) -> int:
    """Play the real game, dream along from ``--dream-from``, print the table of moments."""
    settings = from_args(LongDreamSettings, args)
    allocator = keep_freed_memory_for_benchmark()
    world_model = WorldModel.from_pretrained(settings.checkpoint)
    apply_dream_overrides(world_model, settings.overrides)
    sampling = world_model.dream_settings()
    env = GenieRetroEnv(str(world_model.settings["game"]), max_episode_steps=settings.steps)
    try:
        rows: dict[int, list[tuple[float, ...]]] = {t: [] for t in settings.moments}
        for index in range(settings.seeds):
            for t, values in dream_next_to_the_game(world_model, env, settings, 300 + index, sampling).items():
                rows[t].append(values)
    finally:
        env.close()
    print(f"world model {settings.checkpoint}, {sampling.maskgit_steps} MaskGIT steps, temperature "
          f"{sampling.temperature:g}, action guidance {sampling.action_guidance:g}, change temperature "
          f"{sampling.change_temperature:g}, "
          f"context window {world_model.settings['context_window']}, "
          f"dream from real step {settings.dream_from}; {allocator}")
    print(f"{'step':>5} {'runs':>4} {'dream vs real':>14} {'dream vs start':>15} {'real vs start':>14} "
          f"{'real camera':>12} {'dream scroll':>13} {'mario dream':>12} {'mario real':>11}")
    for t, values in rows.items():
        if not values:
            continue
        mean = np.mean(np.asarray(values), axis=0)
        print(f"{t:>5} {len(values):>4} {mean[0]:>11.2f} dB {mean[1]:>12.2f} dB {mean[2]:>11.2f} dB "
              f"{mean[3]:>9.0f} px {mean[4]:>10.0f} px {mean[5]:>12.1%} {mean[6]:>11.1%}")
    return 0


def dream_next_to_the_game(world_model: WorldModel, env: GenieRetroEnv, settings: LongDreamSettings, seed: int,
                           sampling: DreamSettings) -> dict[int, tuple[float, ...]]:
    """One real run of seed ``seed`` and the dream along it; per moment ``t`` of ``settings.moments`` the run reaches,
    ``(dream vs real, dream vs start, real vs start (dB), real camera, dream scroll (px), Mario's visible fraction
    in the dreamed and in the real frames from the dream's start up to t)``. Prints one line."""
    frames, actions, camera = real_run(env, make_agent(settings.agent, seed), seed, settings.steps)
    start = settings.dream_from
    if len(actions) <= start:
        print(f"seed {seed}: Mario lost a life after {len(actions)} steps, before the dream starts; skipped")
        return {}
    dreamed = dream_along(world_model, frames, actions, start, sampling, seed)
    real = frames[start + 1 :]
    to_real, dream_to_start, real_to_start = psnr(dreamed, real), psnr(dreamed, frames[:1]), psnr(real, frames[:1])
    shifts = [camera_shift(a, b, 8) for a, b in zip(np.concatenate([frames[start : start + 1], dreamed[:-1]]), dreamed,
                                                    strict=True)]
    dream_scroll = camera[start] + np.cumsum(shifts)
    detector = shared_detector()
    # running fractions: frames 0..i of the dream (and of the real game over the same steps) where Mario is found
    dream_mario = np.cumsum(detector.visible(dreamed)) / np.arange(1, len(dreamed) + 1)
    real_mario = np.cumsum(detector.visible(real)) / np.arange(1, len(real) + 1)
    values = {}
    for t in settings.moments:
        i = t - start - 1  # dreamed frame of real step t
        if 0 <= i < len(dreamed):
            values[t] = (to_real[i], dream_to_start[i], real_to_start[i], camera[t], dream_scroll[i],
                         dream_mario[i], real_mario[i])
    print(f"seed {seed}: {len(actions)} real steps (to a lost life or the end), real camera {camera[-1]:.0f} px, "
          f"dream scroll {dream_scroll[-1]:.0f} px, Mario in {dream_mario[-1]:.0%} of the dreamed frames "
          f"({real_mario[-1]:.0%} of the real ones)", flush=True)
    return values
