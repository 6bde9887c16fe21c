"""A trained Stable-Baselines3 ``CnnPolicy`` as a data-collection agent (e.g. one trained in the dream).

``examples/ppo_in_dream.py`` trains PPO inside a world model on its uncertainty and saves the policy's weights with
``safetensors.torch.save_model``; :class:`PolicyAgent` plays those weights in the real game, so that
``genie collect --agent policy --policy FILE`` records the data an exploring agent reaches (the paper's AutoExplore
loop: explore in the dream, collect in the real game, train the world model on it).

It follows the collection policy interface of :mod:`genie_gym.collection`: ``reset(seed)`` re-seeds the sampling of
its actions, ``act(obs uint8 (64, 64, 3)) -> int`` samples an action from the policy (or takes the most likely one
with ``deterministic=True``), so the same seed gives the same episode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genie_gym.conventions import FRAME_SIZE, NUM_ACTIONS


class PolicyAgent:
    """Samples actions from an SB3 ``ActorCriticCnnPolicy`` whose weights are in a safetensors file.

    Args:
        path: the policy's ``policy.safetensors`` (or the directory holding it).
        deterministic: take the most likely action instead of sampling one.
        threads: torch CPU threads of the agent (1: collection runs one agent per worker process).
    """

    def __init__(self, path: str | Path, deterministic: bool = False, threads: int = 1) -> None:
        path = Path(path)
        self.path = path / "policy.safetensors" if path.is_dir() else path
        if not self.path.is_file():
            raise FileNotFoundError(f"policy file {self.path} not found: train one with examples/ppo_in_dream.py "
                                    "(it writes OUT/policy.safetensors) or pass checkpoints/ppo-in-dream-smb")
        self.deterministic = bool(deterministic)
        self.threads = int(threads)
        self._policy = None  # loaded on first use, in the process that plays (collection workers are subprocesses)
        self._generator = None

    def _load(self):
        import gymnasium as gym
        import torch
        from safetensors.torch import load_model
        from stable_baselines3.common.policies import ActorCriticCnnPolicy

        torch.set_num_threads(self.threads)
        # SB3 trains image policies on channel-first observations (VecTransposeImage): (3, 64, 64)
        observation_space = gym.spaces.Box(0, 255, (3, FRAME_SIZE, FRAME_SIZE), dtype=np.uint8)
        policy = ActorCriticCnnPolicy(observation_space, gym.spaces.Discrete(NUM_ACTIONS), lr_schedule=lambda _: 0.0)
        try:
            load_model(policy, str(self.path))
        except Exception as exc:  # truncated file, other format, other network
            raise ValueError(f"{self.path} is not the weights of an SB3 CnnPolicy for 64x64x3 frames and "
                             f"{NUM_ACTIONS} actions ({exc})") from None
        self._policy = policy.eval()
        self._generator = torch.Generator()

    def reset(self, seed: int) -> None:
        """Start an episode: re-seed the sampling of actions (loads the policy the first time)."""
        if self._policy is None:
            self._load()
        self._generator.manual_seed(int(seed))

    def act(self, obs: np.ndarray) -> int:
        """An action in ``[0, 5)`` for an RGB uint8 ``(64, 64, 3)`` frame."""
        import torch

        if self._policy is None:
            self.reset(0)
        frame = torch.from_numpy(np.ascontiguousarray(obs.transpose(2, 0, 1)))[None]
        with torch.no_grad():
            probs = self._policy.get_distribution(frame).distribution.probs[0]
        if self.deterministic:
            return int(probs.argmax())
        return int(torch.multinomial(probs, 1, generator=self._generator))

    def __repr__(self) -> str:
        return f"PolicyAgent({str(self.path)!r}, deterministic={self.deterministic})"
