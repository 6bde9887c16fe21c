"""Collection throughput against the raw emulator, measured in one run.

Prints:
  1. raw emulator frames/s: stable-retro Super Mario Bros stepped directly in one process (random buttons,
     no preprocessing, no frame skip);
  2. collection frames/s (stored observations = agent steps per second, end to end: spawning workers, playing,
     preprocessing, writing and fsync'ing episodes) with 1 and with 2 workers;
  3. the ratio of the 2-worker figure to the target ``2 x raw / frame_skip`` (goal: >= 80%).

The machine may be shared (other processes on the same cores); so it also prints CPU-time-normalised figures, which
do not depend on what else runs: raw emulator frames per CPU second, collection frames per worker CPU second, and the
2-worker throughput that this predicts on 2 free cores.

Usage: python benchmarks/collection_fps.py [--episodes-per-worker 10] [--max-steps 500] [--raw-seconds 5]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import tempfile
import time

import numpy as np
import stable_retro

from genie_gym.agents.random_agent import agent_factory
from genie_gym.collection import collect
from genie_gym.conventions import FRAME_SKIP
from genie_gym.roms import register_custom_integrations


def raw_emulator_fps(seconds: float) -> tuple[float, float]:
    """``(emulator frames per wall second, per CPU second)`` of stable-retro SMB stepped directly here."""
    register_custom_integrations()
    env = stable_retro.make("SuperMarioBros-Nes-v0", inttype=stable_retro.data.Integrations.ALL,
                            use_restricted_actions=stable_retro.Actions.ALL, render_mode="rgb_array")
    try:
        env.reset(seed=0)
        rng = np.random.default_rng(0)
        buttons = [rng.integers(0, 2, size=env.action_space.shape).astype(np.int8) for _ in range(256)]
        frames = 0
        start, cpu_start = time.perf_counter(), time.process_time()
        while time.perf_counter() - start < seconds:
            _, _, terminated, truncated, _ = env.step(buttons[frames % 256])
            frames += 1
            if terminated or truncated:
                env.reset(seed=frames)
        return frames / (time.perf_counter() - start), frames / (time.process_time() - cpu_start)
    finally:
        env.close()


def collection_fps(workers: int, episodes: int, max_steps: int) -> tuple[float, int, float, float]:
    """``(stored frames/s, frames, seconds, worker CPU seconds)`` of a fresh sticky-random SMB collection."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    with tempfile.TemporaryDirectory(prefix="genie-bench-") as out:
        result = collect(["SMB"], agent_factory("sticky-random"), episodes=episodes, max_steps=max_steps,
                         workers=workers, out_dir=out, seed=0, progress=False)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)  # the workers, joined: start-up, play, writes
    cpu = (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)
    return result.frames_per_second, result.frames, result.seconds, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--episodes-per-worker", type=int, default=10)
    parser.add_argument("--max-steps", type=int, default=500)
    parser.add_argument("--raw-seconds", type=float, default=5.0)
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPU cores, "
          f"load average before: {os.getloadavg()[0]:.2f}")
    raw, raw_cpu = raw_emulator_fps(args.raw_seconds)
    print(f"raw emulator (1 process, no preprocessing): {raw:8.0f} emulator frames/s "
          f"= {raw / FRAME_SKIP:.0f} agent steps/s at frame skip {FRAME_SKIP} ({raw_cpu:.0f} frames per CPU second)")
    results, per_cpu = {}, {}
    for workers in (1, 2):
        fps, frames, seconds, cpu = collection_fps(workers, args.episodes_per_worker * workers, args.max_steps)
        results[workers], per_cpu[workers] = fps, frames / cpu
        print(f"collection, {workers} worker(s): {fps:8.0f} stored frames/s ({frames} frames in {seconds:.1f} s, "
              f"including worker start-up and atomic writes; {frames / cpu:.0f} frames per worker CPU second)")
    target = 2 * raw / FRAME_SKIP
    print(f"2 workers vs target 2 x raw / frame_skip = {target:.0f} frames/s: {results[2] / target:.0%} "
          f"(goal >= 80%); 2 vs 1 worker speed-up {results[2] / results[1]:.2f}x; "
          f"load average after: {os.getloadavg()[0]:.2f}")
    efficiency = per_cpu[2] / (raw_cpu / FRAME_SKIP)
    print(f"CPU-normalised: a worker stores {per_cpu[2]:.0f} frames per CPU second = {efficiency:.0%} of the raw "
          f"emulator's {raw_cpu / FRAME_SKIP:.0f} agent steps per CPU second; on 2 free cores 2 workers would reach "
          f"about {2 * per_cpu[2]:.0f} frames/s = {efficiency:.0%} of the target")

if __name__ == "__main__":
    main()
