"""Several real games in one process against one env and against subprocesses (issue 30 item 2).

stable-retro allows one emulator per process, so several ``GenieRetroEnv`` objects of one process share it: each
switch saves the state of the env that held it and restores the state of the env that takes it. Prints ms per agent
step (per vector step for the vector envs, ``num_envs`` agent steps each):

  1. one ``GenieRetro-SMB-v0``;
  2. two ``GenieRetro-SMB-v0`` stepped alternately in this process (every step is a switch);
  3. ``GenieRetro-SMB-v0`` and ``GenieRetro-Airstriker-v0`` stepped alternately (another game: a new emulator per
     switch);
  4. ``gym.make_vec(..., num_envs=2)`` with ``vectorization_mode="sync"`` (one process) and ``"async"``
     (subprocesses);
  5. SB3 ``make_vec_env(..., n_envs=2)`` with ``DummyVecEnv`` (one process) and ``SubprocVecEnv``.

torch is imported first (``--no-torch``: not), as in any process that trains a policy: before the fix, every switch
ran Python's full garbage collection twice, whose cost grows with the objects torch creates at import.

Usage: python benchmarks/real_envs_per_process.py [--steps 200] [--no-torch]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
import warnings

import gymnasium as gym
import numpy as np


def per_step_ms(step, steps: int) -> float:
    """Mean wall ms of ``step(i)`` over ``steps`` calls (after 5 warm-up calls)."""
    for i in range(5):
        step(i)
    start = time.perf_counter()
    for i in range(steps):
        step(i)
    return (time.perf_counter() - start) / steps * 1e3


def alternating(env_ids: list[str], steps: int) -> float:
    """ms per agent step of envs of ``env_ids`` made with ``gym.make`` in this process and stepped in turn."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the one-time "several real games in one process" warning
        envs = [gym.make(env_id, max_episode_steps=10**6) for env_id in env_ids]
    try:
        for i, env in enumerate(envs):
            env.reset(seed=i)
        actions = np.random.default_rng(0).integers(0, 5, size=4096)

        def step(i: int) -> None:
            env = envs[i % len(envs)]
            _, _, terminated, truncated, _ = env.step(int(actions[i % 4096]))
            if terminated or truncated:
                env.reset()

        return per_step_ms(step, steps)
    finally:
        for env in envs:
            env.close()


def gym_vector(mode: str, steps: int) -> float:
    """ms per vector step of ``gym.make_vec("GenieRetro-SMB-v0", num_envs=2, vectorization_mode=mode)``."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        envs = gym.make_vec("GenieRetro-SMB-v0", num_envs=2, vectorization_mode=mode)
    try:
        envs.reset(seed=0)
        actions = np.random.default_rng(0).integers(0, 5, size=(4096, 2))
        return per_step_ms(lambda i: envs.step(actions[i % 4096]), steps)
    finally:
        envs.close()


def sb3_vector(vec_env_name: str, steps: int) -> float:
    """ms per vector step of SB3 ``make_vec_env("GenieRetro-SMB-v0", n_envs=2, vec_env_cls=...)``."""
    # here, not at the top: stable-baselines3 imports torch, which --no-torch keeps out of the process until now
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv

    vec_env_cls = {"DummyVecEnv": DummyVecEnv, "SubprocVecEnv": SubprocVecEnv}[vec_env_name]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # "genie_gym:" imports genie_gym (which registers the ids) in SubprocVecEnv's forkserver workers too
        envs = make_vec_env("genie_gym:GenieRetro-SMB-v0", n_envs=2, seed=0, vec_env_cls=vec_env_cls)
    try:
        envs.reset()
        actions = np.random.default_rng(0).integers(0, 5, size=(4096, 2))

        def step(i: int) -> None:
            envs.step(actions[i % 4096])

        return per_step_ms(step, steps)
    finally:
        envs.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=200, help="timed steps per configuration")
    parser.add_argument("--no-torch", action="store_true", help="do not import torch first")
    args = parser.parse_args(argv)
    # imported here, not at the top: what is measured is the cost of a switch with and without torch's objects
    # in the process (--no-torch), and genie_gym must come after torch as in a process that trains a policy
    if not args.no_torch:
        import torch  # noqa: F401

    import genie_gym  # noqa: F401  (registers the ids)

    print(f"machine: {platform.node()} {platform.processor() or platform.machine()}, Python {sys.version.split()[0]}, "
          f"torch imported: {'torch' in sys.modules}, {args.steps} timed steps each")
    rows = [
        ("1 x SMB, gym.make", "ms/step", alternating(["GenieRetro-SMB-v0"], args.steps)),
        ("2 x SMB in one process, alternately", "ms/step",
         alternating(["GenieRetro-SMB-v0", "GenieRetro-SMB-v0"], args.steps)),
        ("SMB + Airstriker in one process, alternately", "ms/step",
         alternating(["GenieRetro-SMB-v0", "GenieRetro-Airstriker-v0"], args.steps // 4 or 1)),
        ("gym.make_vec 2 x SMB, sync", "ms/vector step", gym_vector("sync", args.steps)),
        ("gym.make_vec 2 x SMB, async", "ms/vector step", gym_vector("async", args.steps)),
        ("SB3 make_vec_env 2 x SMB, DummyVecEnv", "ms/vector step", sb3_vector("DummyVecEnv", args.steps)),
        ("SB3 make_vec_env 2 x SMB, SubprocVecEnv", "ms/vector step", sb3_vector("SubprocVecEnv", args.steps)),
    ]
    for name, unit, value in rows:
        print(f"{name:<48} {value:8.1f} {unit}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
