"""The PPO of the exploring agents (``genie explore``, ``examples/ppo_in_dream.py``): one place for its settings."""

from __future__ import annotations

from stable_baselines3 import PPO
from stable_baselines3.common.vec_env import VecEnv


def build_ppo(env: VecEnv, seed: int, n_steps: int) -> PPO:
    """SB3 PPO with a ``CnnPolicy`` and Atari-style settings, sized for a few thousand env steps per update.

    ``env`` gives RGB uint8 ``(64, 64, 3)`` frames (SB3 transposes them to ``(3, 64, 64)`` for the policy) and
    ``Discrete(5)`` actions; each update collects ``n_steps * env.num_envs`` steps.
    """
    return PPO("CnnPolicy", env, n_steps=n_steps, batch_size=min(256, n_steps * env.num_envs), n_epochs=4,
               learning_rate=2.5e-4, ent_coef=0.01, clip_range=0.1, seed=seed, verbose=0)
