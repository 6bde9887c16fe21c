"""What a player or an agent gets per second from ``GenieDream-SMB-v0`` at batch 1: the env's whole step, not only the
dream's (``benchmarks/dream_fps.py`` times ``WorldModel.step``).

For each MaskGIT setting it prints frames/s of
- ``dream``: ``WorldModel.step`` alone (the dreamed frame, decoded);
- ``env step``: ``env.step``, with the uncertainty reward (``reward="uncertainty"``, the default: one tokenizer pass
  over the last 2 frames and one dynamics pass, docs/DESIGN.md §7) and without it (``reward="none"``);
- ``+ render 256``: ``env.step`` then ``env.render()`` at 256 x 256 through the shipped super-resolution network,
  what ``genie play`` shows, with and without the reward (``genie play`` computes it only while the uncertainty
  overlay is on).

    python benchmarks/dream_env_fps.py [--steps 30] [--repeats 3] [--maskgit-steps 1 8] [--threads 2]
"""

from __future__ import annotations

import argparse
import time

import gymnasium as gym
import numpy as np
import torch

import genie_gym  # noqa: F401  (registers the ids)


def frames_per_second(step, steps: int, repeats: int) -> float:
    """Best of ``repeats`` timings of ``steps`` calls (a shared CPU is noisy)."""
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        for _ in range(steps):
            step()
        best = min(best, time.perf_counter() - start)
    return steps / best


def measure(maskgit_steps: int, steps: int, repeats: int) -> dict[str, float]:
    """frames/s of the dream alone, and of ``env.step`` and ``env.step`` + ``render()`` at 256 with each reward."""
    out = {}
    for reward in ("uncertainty", "none"):
        out.update(measure_env(maskgit_steps, reward, steps, repeats))
    return out


def measure_env(maskgit_steps: int, reward: str, steps: int, repeats: int) -> dict[str, float]:
    """``{"dream", "step REWARD", "render REWARD"}`` frames/s of one env (``"dream"`` with the reward on only)."""
    env = gym.make("GenieDream-SMB-v0", maskgit_steps=maskgit_steps, render_mode="rgb_array", render_size=256,
                   reward=reward)
    env.reset(seed=0)

    def env_step_and_render() -> None:
        env.step(0)
        env.render()

    for _ in range(3):  # warm-up
        env_step_and_render()
    out = {"dream": frames_per_second(dream_step(env), steps, repeats)} if reward == "uncertainty" else {}
    env.reset(seed=0)
    out[f"step {reward}"] = frames_per_second(lambda: env.step(0), steps, repeats)
    env.reset(seed=0)
    out[f"render {reward}"] = frames_per_second(env_step_and_render, steps, repeats)
    env.close()
    return out


def dream_step(env: gym.Env):
    """``WorldModel.step`` of the env's dream alone, with its sampling settings."""
    dreams = env.unwrapped.dreams
    action = np.zeros(1, dtype=np.int64)

    def step() -> None:
        dreams.world_model.step(dreams.state, action, dreams.settings, dreams.generator)

    return step


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--maskgit-steps", type=int, nargs="+", default=[1, 8])
    parser.add_argument("--threads", type=int, default=None)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"GenieDream-SMB-v0, batch 1, {torch.get_num_threads()} threads, best of {args.repeats} x {args.steps} steps")
    print(f"{'':>14}{'':>8}{'env step, reward':>22}{'+ render 256, reward':>24}")
    print(f"{'MaskGIT steps':>14}{'dream':>8}{'uncertainty':>13}{'none':>9}{'uncertainty':>15}{'none':>9}"
          "  (frames/s)")
    for maskgit_steps in args.maskgit_steps:
        fps = measure(maskgit_steps, args.steps, args.repeats)
        print(f"{maskgit_steps:>14}{fps['dream']:>8.1f}{fps['step uncertainty']:>13.1f}{fps['step none']:>9.1f}"
              f"{fps['render uncertainty']:>15.1f}{fps['render none']:>9.1f}", flush=True)

if __name__ == "__main__":
    main()
