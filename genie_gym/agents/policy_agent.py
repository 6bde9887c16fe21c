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

POLICY_FILE = "policy.safetensors"
SHIPPED_POLICIES = ("ppo-in-dream-smb",)
"""Policies shipped in ``checkpoints/`` (and installed by the wheel next to the world models): pass the name, or a
path ending in it that does not exist here (``checkpoints/ppo-in-dream-smb`` outside a clone), and
:func:`resolve_policy` finds the installed copy."""


def resolve_policy(path: str | Path) -> Path:
    """The ``policy.safetensors`` of ``path``: the file itself, the one in the directory ``path``, or the installed
    copy of a shipped policy named by ``path`` (:data:`SHIPPED_POLICIES`, looked up where the shipped world models are:
    ``$GENIE_GYM_CHECKPOINTS``, the source tree's ``checkpoints/``, ``<prefix>/share/genie-gym/checkpoints``).

    Raises ``FileNotFoundError`` saying what is accepted.
    """
    path = Path(path)
    local = path / POLICY_FILE if path.is_dir() else path
    if local.is_file():
        return local
    name = path.parent.name if path.name == POLICY_FILE else path.name
    if name in SHIPPED_POLICIES:
        from genie_gym.world_model import checkpoint_search_paths

        searched = checkpoint_search_paths()
        for root in searched:
            if (root / name / POLICY_FILE).is_file():
                return root / name / POLICY_FILE
        raise FileNotFoundError(f"the shipped policy {name} is not installed (searched: "
                                f"{', '.join(str(root) for root in searched)}): reinstall genie-gym, or set "
                                "GENIE_GYM_CHECKPOINTS to the folder that holds it")
    raise FileNotFoundError(f"policy file {local} not found: train one with examples/ppo_in_dream.py (it writes "
                            f"OUT/{POLICY_FILE}) or `genie explore`, or name a shipped policy: "
                            f"{', '.join(SHIPPED_POLICIES)}")


class PolicyAgent:
    """Samples actions from an SB3 ``ActorCriticCnnPolicy`` whose weights are in a safetensors file.

    Args:
        path: the policy's ``policy.safetensors``, the directory holding it or a shipped policy's name
            (:func:`resolve_policy`).
        deterministic: take the most likely action instead of sampling one.
        threads: torch CPU threads of the agent (1: collection runs one agent per worker process).
    """

    def __init__(self, path: str | Path, deterministic: bool = False, threads: int = 1) -> None:
        self.path = resolve_policy(path)
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
